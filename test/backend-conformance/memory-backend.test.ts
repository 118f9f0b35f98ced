// The memory backend against the shared backend contract.
import { createMemoryBackend } from "@credpool/pool-core";
import { runBackendConformance } from "./suite.js";

runBackendConformance("memory backend", (store) => createMemoryBackend({ name: store.id }));

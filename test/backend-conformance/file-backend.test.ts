// The file backend against the shared backend contract.
import { join } from "node:path";
import { createFileBackend } from "@credpool/pool-core";
import { runBackendConformance } from "./suite.js";

runBackendConformance("file backend", (store) => createFileBackend({ path: join(store.dir, "pool.json") }));

// The PostgreSQL backend against the shared backend contract: one schema for this file, one document per test.
import { afterAll, describe } from "vitest";
import { createPostgresBackend } from "@credpool/pool-postgres";
import { PG_AVAILABLE, PG_URL, dropSchema, uniqueSchema } from "../postgres/pg-server.js";
import { runBackendConformance } from "./suite.js";

const schema = uniqueSchema("conformance");
afterAll(() => dropSchema(schema));

describe.skipIf(!PG_AVAILABLE)("postgres", () => {
  runBackendConformance("postgres backend", (store) =>
    createPostgresBackend({ url: PG_URL, schema, document: store.id, lockTtlMs: 2000 }),
  );
});

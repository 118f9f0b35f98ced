// `credpool doctor` on a PostgreSQL store: server reachable, schema version, lock rows past their expiry, NOTIFY.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { createPostgresBackend } from "@credpool/pool-postgres";
import { createTempDir } from "@credpool/pool-testkit";
import { PG_AVAILABLE, PG_URL, dropSchema, sql, uniqueSchema } from "./pg-server.js";

const cli = fileURLToPath(new URL("../../packages/pool-cli/bin/credpool.mjs", import.meta.url));

interface Report {
  ok: boolean;
  findings: Array<{ check: string; severity: string; message: string }>;
}

describe.skipIf(!PG_AVAILABLE)("credpool doctor on a PostgreSQL store", () => {
  const schema = uniqueSchema("doctor");
  afterAll(() => dropSchema(schema));

  it("reports the server, the schema version, an expired lock row and NOTIFY delivery", async () => {
    const backend = createPostgresBackend({ url: PG_URL, schema });
    await backend.update((doc) => void (doc.note = "x"));
    await backend.close();
    await sql(
      `INSERT INTO "${schema}".locks (document, name, owner, fence, expires_at)
       VALUES ('pool', 'refresh:cred9', 'gone-host:4242:abc', 7, now() - interval '1 minute')`,
    );
    const home = await createTempDir("credpool-pg-doctor-");
    try {
      const { stdout } = await promisify(execFile)(process.execPath, [cli, "doctor", "--json"], {
        env: { ...process.env, CREDPOOL_HOME: home.path, CREDPOOL_STORE: PG_URL, CREDPOOL_STORE_SCHEMA: schema },
      });
      const report = JSON.parse(stdout) as Report;
      const by = (check: string) => report.findings.find((f) => f.check === check);
      expect(by("store-server")?.severity).toBe("ok");
      expect(by("store-server")?.message).toMatch(/PostgreSQL \d+/);
      expect(by("store-schema")?.severity).toBe("ok");
      expect(by("store-schema")?.message).toContain("version 1");
      expect(by("store-locks")?.severity).toBe("warning");
      expect(by("store-locks")?.message).toContain("pool/refresh:cred9 held by gone-host:4242:abc");
      expect(by("store-notify")).toMatchObject({ severity: "ok" });
      expect(report.ok).toBe(true);
    } finally {
      await home.remove();
    }
  });
});

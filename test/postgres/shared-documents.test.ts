// With a PostgreSQL store every document is shared, not only the pool: homes on different "hosts" (each its own
// CREDPOOL_HOME, nothing shared but the database) see the same gateway client tokens and the same TOTP state, so a
// token made on one host works on a gateway on another, and a wrong code on one host counts on the other.
import { execFile } from "node:child_process";
import { copyFile, mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { createUsageRecorder, generateTotpCode, openPool } from "@credpool/pool-core";
import { createPostgresBackend, createPostgresDocumentStore } from "@credpool/pool-postgres";
import { createTempDir } from "@credpool/pool-testkit";
import { findSecretLines, isRunning, startGatewayProcess, type GatewayProcess } from "../gateway/gateway-process.js";
import { PG_AVAILABLE, PG_URL, dropSchema, uniqueSchema } from "./pg-server.js";

const cli = fileURLToPath(new URL("../../packages/pool-cli/bin/credpool.mjs", import.meta.url));
const API_KEY = "sk-FIXTUREpgSharedDocsKEY-0123456789abcdefghijk";
const GUARD_MS = 15_000;
type TotpAlgorithm = Parameters<typeof generateTotpCode>[0]["algorithm"];

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function seedPool(schema: string): Promise<void> {
  const backend = createPostgresBackend({ url: PG_URL, schema });
  try {
    const pool = await openPool({ backend });
    await pool.add({ provider: "anthropic", label: "shared-key", secrets: { apiKey: API_KEY } });
    await pool.close();
  } finally {
    await backend.close();
  }
}

async function makeHomes(root: string, names: string[]): Promise<string[]> {
  const homes = names.map((name) => join(root, name));
  for (const home of homes) await mkdir(home, { mode: 0o700 });
  return homes;
}

describe.skipIf(!PG_AVAILABLE)("documents shared through PostgreSQL", () => {
  const schemas: string[] = [];
  afterAll(async () => {
    for (const schema of schemas) await dropSchema(schema);
  });

  it("accepts on host B's gateway a client token created through host A's home, and refuses it once revoked", async () => {
    const schema = uniqueSchema("shared_tokens");
    schemas.push(schema);
    await seedPool(schema);
    const dir = await createTempDir("credpool-pg-shared-");
    const env = { CREDPOOL_STORE: PG_URL, CREDPOOL_STORE_SCHEMA: schema };
    const [hostA, hostB] = await makeHomes(dir.path, ["host-a", "host-b"]);
    let gateway: GatewayProcess | undefined;
    try {
      gateway = await startGatewayProcess(join(hostB!, "pool.json"), { ...env, CREDPOOL_HOME: hostB });
      const created = await runCli(["gateway", "token", "create", "--name", "worker", "--scope", "lease", "--json"], {
        ...env,
        CREDPOOL_HOME: hostA,
      });
      expect(created.stderr).toBe("");
      expect(created.code).toBe(0);
      const token = (JSON.parse(created.stdout) as { token: string }).token;
      const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };

      const leased = await fetch(`${gateway.url}/v1/leases`, {
        method: "POST",
        headers,
        body: '{"provider":"anthropic"}',
      });
      const body = (await leased.json()) as { leaseId?: string };
      expect(leased.status).toBe(201);
      expect(body.leaseId).toEqual(expect.any(String));
      // Nothing was written beside either home's pool.json: the tokens are a row of the database.
      expect(await readdir(hostA!)).not.toContain("gateway-tokens.json");
      expect(await readdir(hostB!)).not.toContain("gateway-tokens.json");

      const revoked = await runCli(["gateway", "token", "revoke", "worker", "--json"], {
        ...env,
        CREDPOOL_HOME: hostA,
      });
      expect(revoked.code).toBe(0);
      // The gateway learns of the revocation through NOTIFY; bounded wait, no timing asserted.
      let status = 0;
      for (const until = Date.now() + GUARD_MS; Date.now() < until;) {
        const response = await fetch(`${gateway.url}/v1/leases`, {
          method: "POST",
          headers,
          body: '{"provider":"anthropic"}',
        });
        status = response.status;
        await response.arrayBuffer();
        if (status === 401) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(status).toBe(401);
      expect(findSecretLines(gateway.child, [token, API_KEY])).toEqual([]);
    } finally {
      if (gateway && isRunning(gateway.child)) gateway.child.kill("SIGKILL");
      await dir.remove();
    }
  });

  it("adds the usage of gateways on two hosts into one document that `credpool usage` on a third host reports", async () => {
    const schema = uniqueSchema("shared_usage");
    schemas.push(schema);
    const dir = await createTempDir("credpool-pg-usage-");
    const [hostA, hostB, hostC] = await makeHomes(dir.path, ["host-a", "host-b", "host-c"]);
    try {
      // Two recorders, as two gateways flush them, each through its own connection to the store.
      for (const [i, home] of [hostA!, hostB!].entries()) {
        const usage = createUsageRecorder({
          path: join(home, "usage.json"),
          documents: createPostgresDocumentStore({ url: PG_URL, schema }),
        });
        for (let n = 0; n <= i; n++) {
          usage.record({
            provider: "anthropic",
            credentialId: "cred1",
            credentialLabel: "shared-key",
            model: "claude-test",
            client: "worker",
            tokens: { input: 10, output: 5, cacheRead: 0, cacheWrite: 0 },
          });
        }
        await usage.close();
        expect(await readdir(home)).not.toContain("usage.json");
      }
      const report = await runCli(["usage", "--by", "model", "--json"], {
        CREDPOOL_STORE: PG_URL,
        CREDPOOL_STORE_SCHEMA: schema,
        CREDPOOL_HOME: hostC,
      });
      expect(report.code).toBe(0);
      const { rows } = JSON.parse(report.stdout) as { rows: Array<{ key?: string; requests: number; input: number }> };
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ requests: 3, input: 30 });
    } finally {
      await dir.remove();
    }
  });

  it("counts a wrong TOTP code on host A against host B too, and locks the user out on both", async () => {
    const schema = uniqueSchema("shared_totp");
    schemas.push(schema);
    await seedPool(schema);
    const dir = await createTempDir("credpool-pg-totp-");
    const env = { CREDPOOL_STORE: PG_URL, CREDPOOL_STORE_SCHEMA: schema };
    const [hostA, hostB] = await makeHomes(dir.path, ["host-a", "host-b"]);
    const onA = { ...env, CREDPOOL_HOME: hostA };
    const onB = { ...env, CREDPOOL_HOME: hostB };
    try {
      const begun = await runCli(["totp", "setup", "--json"], onA);
      expect(begun.code).toBe(0);
      const { secret, algorithm } = JSON.parse(begun.stdout) as { secret: string; algorithm: TotpAlgorithm };
      const codeAt = (offset: number): string =>
        generateTotpCode({ secret, algorithm, timestamp: Date.now() + offset * 30_000 });
      expect((await runCli(["totp", "setup", "--confirm", codeAt(0)], onA)).code).toBe(0);
      // The secret stays a local file: each host gets its own copy. The state is not copied.
      await copyFile(join(hostA!, "totp.secret"), join(hostB!, "totp.secret"));
      expect(await readdir(hostA!)).not.toContain("auth-state.json");

      const statusOn = async (home: NodeJS.ProcessEnv) => {
        const result = await runCli(["totp", "status", "--json"], home);
        return { exit: result.code, ...(JSON.parse(result.stdout) as { state: string; failures: number }) };
      };
      expect(await statusOn(onB)).toMatchObject({ exit: 0, state: "configured", failures: 0 });

      const valid = new Set([codeAt(-1), codeAt(0), codeAt(1)]);
      const wrong = ["000000", "111111", "222222", "333333"].find((code) => !valid.has(code)) as string;
      const revealWith = (home: NodeJS.ProcessEnv, code: string) =>
        runCli(["reveal", "shared-key", "--totp-code", code, "--json"], home);

      const first = await revealWith(onA, wrong);
      expect(first.code).not.toBe(0);
      expect(first.stderr).toContain("E_TOTP_INVALID");
      expect(await statusOn(onB)).toMatchObject({ state: "configured", failures: 1 });

      expect((await revealWith(onB, wrong)).stderr).toContain("E_TOTP_INVALID");
      expect(await statusOn(onA)).toMatchObject({ state: "configured", failures: 2 });

      // The third wrong code, on host A, reaches the lockout (3 by default) for this user on both hosts.
      expect((await revealWith(onA, wrong)).stderr).toContain("E_TOTP_LOCKED");
      expect(await statusOn(onB)).toMatchObject({ exit: 10, state: "configured" });
      const refused = await revealWith(onB, codeAt(0));
      expect(refused.stderr).toContain("E_TOTP_LOCKED");
      expect(refused.stdout).not.toContain(API_KEY);
    } finally {
      await dir.remove();
    }
  });
});

// `credpool gateway token`: tokens are printed once, stored only as hashes, verified by the gateway's store.
import { readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { createTokenStore } from "@credpool/pool-gateway";
import { describe, expect, it } from "vitest";
import { useTestPools } from "./helpers/cli.js";

const freshPool = useTestPools();

describe("credpool gateway token", () => {
  it("creates a token shown once, stores only its hash (0600), lists and revokes it", async () => {
    const pool = await freshPool();
    const created = await pool.run(["gateway", "token", "create", "--name", "worker", "--json"], {
      revealsSecrets: true,
    });
    expect(created.code, created.stderr).toBe(0);
    const { token, scope } = JSON.parse(created.stdout) as { token: string; scope: string };
    expect(scope).toBe("lease");
    expect(token).toMatch(/^cpg_[a-z0-9]+_[A-Za-z0-9_-]{20,}$/);

    const file = join(dirname(pool.path), "gateway-tokens.json");
    expect(await readFile(file, "utf8")).not.toContain(token);
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    const store = createTokenStore({ dir: dirname(pool.path) });
    await store.open();
    expect(store.verify(token)).toMatchObject({ name: "worker", scope: "lease" });
    expect(store.verify(`${token.slice(0, -1)}x`)).toBeUndefined();
    await store.close();

    const listed = await pool.run(["gateway", "token", "list"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/lease\s+worker/);
    expect(listed.stdout).not.toContain(token);

    const revoked = await pool.run(["gateway", "token", "revoke", "worker"]);
    expect(revoked.code, revoked.stderr).toBe(0);
    const after = await pool.run(["gateway", "token", "list", "--json"]);
    expect(JSON.parse(after.stdout)).toEqual({ tokens: [] });
  });

  it("creates a token with scope proxy for the provider routes", async () => {
    const pool = await freshPool();
    const created = await pool.run(["gateway", "token", "create", "--name", "agent", "--scope", "proxy", "--json"], {
      revealsSecrets: true,
    });
    expect(created.code, created.stderr).toBe(0);
    const { token, scope } = JSON.parse(created.stdout) as { token: string; scope: string };
    expect(scope).toBe("proxy");
    const store = createTokenStore({ dir: dirname(pool.path) });
    await store.open();
    expect(store.verify(token)).toMatchObject({ name: "agent", scope: "proxy" });
    await store.close();
  });

  it("refuses a missing --name, a bad scope, a duplicate name and an unknown revoke with clear messages", async () => {
    const pool = await freshPool();
    const noName = await pool.run(["gateway", "token", "create"]);
    expect(noName.code).toBe(2);
    expect(noName.stderr).toContain("--name is required");

    const badScope = await pool.run(["gateway", "token", "create", "--name", "x", "--scope", "root"]);
    expect(badScope.code).toBe(2);
    expect(badScope.stderr).toContain("--scope must be lease, proxy or admin");

    expect((await pool.run(["gateway", "token", "create", "--name", "dup"], { revealsSecrets: true })).code).toBe(0);
    const duplicate = await pool.run(["gateway", "token", "create", "--name", "dup"], { revealsSecrets: true });
    expect(duplicate.code).toBe(13);
    expect(duplicate.stderr).toContain('named "dup" exists');

    const unknown = await pool.run(["gateway", "token", "revoke", "nobody"]);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain('No gateway token "nobody"');
  });
});

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
    expect(badScope.stderr).toContain("--scope must be lease, proxy, delegate, admin or read");

    expect((await pool.run(["gateway", "token", "create", "--name", "dup"], { revealsSecrets: true })).code).toBe(0);
    const duplicate = await pool.run(["gateway", "token", "create", "--name", "dup"], { revealsSecrets: true });
    expect(duplicate.code).toBe(13);
    expect(duplicate.stderr).toContain('named "dup" exists');

    const unknown = await pool.run(["gateway", "token", "revoke", "nobody"]);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain('No gateway token "nobody"');
  });

  it("creates a child token with --parent, --ttl and limits no wider than the parent's, lists and revokes it with its parent", async () => {
    const pool = await freshPool();
    const parent = await pool.run(
      [
        "gateway",
        "token",
        "create",
        "--name",
        "planner",
        "--scope",
        "delegate",
        "--providers",
        "anthropic,openai",
      ].concat(["--models", "claude-*,gpt-4o", "--max-concurrent", "4", "--rpm", "120"]),
      { revealsSecrets: true },
    );
    expect(parent.code, parent.stderr).toBe(0);
    const child = await pool.run(
      ["gateway", "token", "create", "--name", "helper", "--parent", "planner", "--ttl", "30m"].concat([
        "--providers",
        "anthropic",
        "--models",
        "claude-sonnet-*",
        "--max-concurrent",
        "2",
        "--json",
      ]),
      { revealsSecrets: true },
    );
    expect(child.code, child.stderr).toBe(0);
    const minted = JSON.parse(child.stdout) as { scope: string; expiresAt: number; limits: Record<string, unknown> };
    expect(minted.scope).toBe("proxy");
    // rpm was not asked for: the parent's applies.
    expect(minted.limits).toEqual({
      providers: ["anthropic"],
      models: ["claude-sonnet-*"],
      maxConcurrent: 2,
      rpm: 120,
    });
    expect(Math.abs(minted.expiresAt - (Date.now() + 30 * 60_000))).toBeLessThan(60_000);

    const listed = await pool.run(["gateway", "token", "list"]);
    expect(listed.stdout).toMatch(/delegate\s+planner\s+providers=anthropic,openai models=claude-\*,gpt-4o/);
    expect(listed.stdout).toMatch(/proxy\s+helper\s+parent=planner\s+expires=\S+ \(in \d+ s\)\s+providers=anthropic/);

    const revoked = await pool.run(["gateway", "token", "revoke", "planner"]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain("and 1 token minted under it (helper)");
    expect(JSON.parse((await pool.run(["gateway", "token", "list", "--json"])).stdout)).toEqual({ tokens: [] });
  });

  it("refuses bad limit values and a child wider than its parent, naming the flag", async () => {
    const pool = await freshPool();
    const made = await pool.run(
      ["gateway", "token", "create", "--name", "planner", "--scope", "delegate", "--providers", "anthropic"].concat([
        "--models",
        "claude-*",
        "--rpm",
        "60",
        "--ttl",
        "1h",
      ]),
      { revealsSecrets: true },
    );
    expect(made.code, made.stderr).toBe(0);
    const cases: Array<[string[], string]> = [
      [["--rpm", "fast"], "--rpm must be a whole number"],
      [["--max-concurrent", "0"], "--max-concurrent must be at least 1"],
      [["--ttl", "soon"], '--ttl takes seconds or a duration like 90s, 10m or 1h, got "soon"'],
      [["--providers", "Anthropic!"], "--providers takes provider names"],
      [["--models", "claude sonnet"], "--models takes model names or globs"],
      [["--providers", "openai"], "--providers: openai not among the parent's (anthropic)"],
      [["--models", "gpt-*"], "--models: gpt-* not covered by the parent's (claude-*)"],
      [["--rpm", "61"], "--rpm: 61 is wider than the parent's 60"],
      [["--ttl", "2h"], '--ttl: 7200 s outlives the parent "planner"'],
      [["--scope", "admin"], "--scope: a child token gets scope proxy or delegate, not admin"],
    ];
    for (const [flags, message] of cases) {
      const result = await pool.run(
        ["gateway", "token", "create", "--name", "child", "--parent", "planner", ...flags],
        {
          revealsSecrets: true,
        },
      );
      expect(result.code, flags.join(" ")).toBe(2);
      expect(result.stderr).toContain(message);
    }
    const proxyParent = await pool.run(["gateway", "token", "create", "--name", "plain", "--scope", "proxy"], {
      revealsSecrets: true,
    });
    expect(proxyParent.code).toBe(0);
    const underProxy = await pool.run(["gateway", "token", "create", "--name", "child", "--parent", "plain"], {
      revealsSecrets: true,
    });
    expect(underProxy.code).toBe(2);
    expect(underProxy.stderr).toContain('--parent: token "plain" has scope proxy; only a delegate or admin token');
    const noParent = await pool.run(["gateway", "token", "create", "--name", "child", "--parent", "ghost"]);
    expect(noParent.code).toBe(3);
    expect(noParent.stderr).toContain('No parent gateway token "ghost"');
  });
});

// Text that comes from outside (a token endpoint's error body, a client's release message) as others read it:
// a secret credpool holds or has just sent appears nowhere, and control characters never reach a terminal.
import { readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { createTokenStore } from "@credpool/pool-gateway";
import { startFakeTokenServer, type FakeTokenServer } from "@credpool/pool-testkit";
import { afterEach, describe, expect, it } from "vitest";
import {
  findSecretLines,
  isRunning,
  startGatewayProcess,
  type GatewayProcess,
} from "../../../test/gateway/gateway-process.js";
import { fixtureSecret, useTestPools, type CliResult, type TestPool } from "./helpers/cli.js";

const freshPool = useTestPools();

describe("a refresh token echoed by the token endpoint", () => {
  let server: FakeTokenServer | undefined;
  let gateway: GatewayProcess | undefined;
  afterEach(async () => {
    if (gateway && isRunning(gateway.child)) gateway.child.kill("SIGKILL");
    gateway = undefined;
    await server?.close();
    server = undefined;
  });

  /** One expired OAuth credential per refresh token, refreshed at the fake endpoint through config.json. */
  async function seedIdp(pool: TestPool, endpoint: FakeTokenServer, refreshTokens: readonly string[]): Promise<void> {
    await pool.seed(
      refreshTokens.map((refreshToken, index) => ({
        provider: "custom:idp",
        kind: "oauth" as const,
        label: `idp-${index + 1}`,
        baseUrl: "https://idp.example/v1",
        secrets: { accessToken: fixtureSecret("sk-ant-oat01-"), refreshToken, expiresAt: Date.now() - 60_000 },
      })),
    );
    await writeFile(
      join(dirname(pool.path), "config.json"),
      JSON.stringify({
        // A backoff far longer than the test: the gateway's lease must not try the 503 credential again, however
        // slowly the CLI steps before it run on a loaded machine.
        refresh: {
          backoffBaseMs: 3_600_000,
          providers: { "custom:idp": { tokenUrl: endpoint.tokenUrl, clientId: "idp-client" } },
        },
      }),
      { mode: 0o600 },
    );
  }

  it("appears nowhere a client can read: show, list --json, stderr, GET /v1/pool, the gateway's answers and logs", async () => {
    const pool = await freshPool();
    server = await startFakeTokenServer();
    // Short tokens that no key pattern recognises, and one long one; each echoed a different way.
    const refreshTokens = ["rt-abc123", "rt-def456", "rt-ghi789", "rt-jkl012", `rt-${"x7Yq".repeat(10)}`];
    await seedIdp(pool, server, refreshTokens);
    server.script(
      { type: "echo-refresh-token", status: 400, error: "invalid_grant" },
      { type: "echo-refresh-token", status: 400, format: "text" },
      { type: "echo-refresh-token", status: 503 },
      { type: "echo-refresh-token", status: 401 },
    );
    const results: CliResult[] = [];
    for (const label of ["idp-1", "idp-2", "idp-3", "idp-4"]) {
      const refreshed = await pool.run(["refresh", label]);
      expect(refreshed.code, refreshed.stderr).not.toBe(0);
      results.push(refreshed);
    }
    for (const label of ["idp-1", "idp-2", "idp-3", "idp-4"]) {
      results.push(await pool.run(["show", label]), await pool.run(["show", label, "--json"]));
    }
    results.push(await pool.run(["list", "--json"]), await pool.run(["list", "--wide"]));

    // The gateway: its refresh of the fifth credential meets the same echo.
    const tokens = createTokenStore({ dir: dirname(pool.path) });
    const { token } = await tokens.create("worker", "lease");
    await tokens.close();
    gateway = await startGatewayProcess(pool.path);
    server.script({ type: "echo-refresh-token", status: 400, format: "text" });
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const leased = await fetch(`${gateway.url}/v1/leases`, {
      method: "POST",
      headers,
      body: '{"provider":"custom:idp"}',
    });
    const answers = [await leased.text()];
    expect(leased.status).not.toBe(201);
    expect(server.calls.length).toBe(5);
    for (const path of ["/v1/pool", "/v1/pool/custom:idp"]) {
      const response = await fetch(`${gateway.url}${path}`, { headers });
      expect(response.status).toBe(200);
      answers.push(await response.text());
    }

    const stored = await readFile(pool.path, "utf8");
    for (const refreshToken of refreshTokens) {
      const seen = results
        .filter((result) => `${result.stdout}${result.stderr}`.includes(refreshToken))
        .map((result) => result.args.join(" "));
      expect(seen, refreshToken).toEqual([]);
      expect(
        answers.filter((answer) => answer.includes(refreshToken)),
        refreshToken,
      ).toEqual([]);
      expect(findSecretLines(gateway.child, [refreshToken]), refreshToken).toEqual([]);
      // Stored only where it belongs: secrets.refreshToken, once per credential.
      expect(stored.split(refreshToken).length - 1, refreshToken).toBe(1);
    }
    // The refusal is still explained: the endpoint's reason code survives.
    expect(results[0]?.stderr).toContain("invalid_grant");
  });
});

describe("control characters in stored text", () => {
  const TITLE = "\u001b]0;pwned\u0007";
  const CLIPBOARD = "\u001b]52;c;ZWNobyBoaQ==\u0007";
  const CLEAR = "\u001b[2J";
  const C1_CSI = "\u009b31m";
  const HOSTILE = `rate limited${TITLE}${CLIPBOARD}${CLEAR}${C1_CSI} try later\u007f`;
  // eslint-disable-next-line no-control-regex
  const CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/;

  it("stores a release message and model without escape sequences, and show and list print no ESC byte", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "anthropic", label: "work" }]);
    const leased = await pool.run(["lease", "anthropic", "--json"], { revealsSecrets: true });
    expect(leased.code, leased.stderr).toBe(0);
    const { leaseId } = JSON.parse(leased.stdout) as { leaseId: string };
    const released = await pool.run(["release", leaseId, "--status", "429", "--message", HOSTILE]);
    expect(released.code, released.stderr).toBe(0);
    const reported = await pool.run([
      "report",
      "work",
      "--status",
      "429",
      "--model",
      `opus${CLEAR}`,
      "--message",
      HOSTILE,
    ]);
    expect(reported.code, reported.stderr).toBe(0);

    const doc = JSON.parse(await readFile(pool.path, "utf8")) as {
      providers: {
        anthropic: {
          credentials: { status: { message?: string }; modelCooldowns?: { model?: string; message?: string }[] }[];
        };
      };
    };
    const [credential] = doc.providers.anthropic.credentials;
    expect(credential?.status.message).toBe("rate limited try later");
    expect(credential?.modelCooldowns?.map((cooldown) => cooldown.model)).toEqual(["opus"]);

    for (const args of [
      ["show", "work"],
      ["show", "work", "--json"],
      ["list", "--wide"],
      ["list", "--json"],
    ]) {
      const shown = await pool.run(args);
      expect(shown.code, shown.stderr).toBe(0);
      expect(CONTROL.test(shown.stdout), args.join(" ")).toBe(false);
      expect(shown.stdout).not.toContain("\u001b");
    }
  });

  it("escapes control characters an older build stored, so show prints them visibly and never raw", async () => {
    const pool = await freshPool();
    await pool.seed([{ provider: "anthropic", label: "work" }]);
    const doc = JSON.parse(await readFile(pool.path, "utf8")) as {
      providers: { anthropic: { credentials: { status: Record<string, unknown> }[] } };
    };
    const [credential] = doc.providers.anthropic.credentials;
    if (!credential) throw new Error("no credential seeded");
    credential.status = { state: "dead", since: Date.now(), reason: `revoked${CLEAR}`, message: HOSTILE };
    await writeFile(pool.path, JSON.stringify(doc), { mode: 0o600 });

    const shown = await pool.run(["show", "work"]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(CONTROL.test(shown.stdout)).toBe(false);
    expect(shown.stdout).toContain("\\x1b]0;pwned\\x07");
    const listed = await pool.run(["list", "--wide"]);
    expect(CONTROL.test(listed.stdout)).toBe(false);
    const json = await pool.run(["show", "work", "--json"]);
    expect(CONTROL.test(json.stdout)).toBe(false);
    expect((JSON.parse(json.stdout) as { credential: { statusMessage: string } }).credential.statusMessage).toBe(
      HOSTILE,
    );
  });
});

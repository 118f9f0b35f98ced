// `credpool login`: real CLI processes against the fake authorization server (testkit), which checks the PKCE
// verifier (S256), single-use codes, and answers device polls with RFC 8628's errors.
import { spawn } from "node:child_process";
import { chmod, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { beginTotpSetup, confirmTotpSetup, generateTotpCode, openPool, type Credential } from "@credpool/pool-core";
import { startFakeTokenServer, type FakeTokenServer } from "@credpool/pool-testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_BIN, recordOutput, registerSecret, useTestPools, type CliResult, type TestPool } from "./helpers/cli.js";

const freshPool = useTestPools();
let fake: FakeTokenServer;

beforeAll(async () => {
  fake = await startFakeTokenServer();
});
afterAll(async () => {
  await fake.close();
});

interface LiveRun {
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  write(text: string): void;
  kill(signal: NodeJS.Signals): void;
  readonly done: Promise<CliResult>;
}

/** A `credpool login` child whose stdin stays open, so the test can act as the user once the URL is printed. */
function startCli(pool: TestPool, args: readonly string[], env: NodeJS.ProcessEnv): LiveRun {
  const child = spawn(process.execPath, [CLI_BIN, "--pool", pool.path, ...args], {
    env: { ...process.env, NO_COLOR: "1", BROWSER: "", DISPLAY: "", WAYLAND_DISPLAY: "", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const waiters = new Set<() => void>();
  const onData = (): void => {
    for (const waiter of waiters) waiter();
  };
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => ((stdout += chunk), onData()));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => ((stderr += chunk), onData()));
  child.stdin.on("error", () => undefined);
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const done = new Promise<CliResult>((resolve) => {
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      recordOutput(`credpool ${args.join(" ")}`, `${stdout}\n${stderr}`);
      resolve({ args, code, signal, stdout, stderr });
    });
  });
  return {
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const match = `${stdout}\n${stderr}`.match(pattern);
          if (match) {
            waiters.delete(check);
            clearTimeout(deadline);
            resolve(match);
          }
        };
        const deadline = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${String(pattern)} in output:\n${stdout}\n${stderr}`));
        }, timeoutMs);
        waiters.add(check);
        check();
        void done.then(() => check());
      });
    },
    write: (text) => child.stdin.write(text),
    kill: (signal) => child.kill(signal),
    done,
  };
}

const URL_LINE = /^ {2}(http:\/\/127\.0\.0\.1:\d+\/oauth\/authorize\?\S+)$/m;

function anthropicEnv(): NodeJS.ProcessEnv {
  return {
    CREDPOOL_ANTHROPIC_TOKEN_URL: fake.tokenUrl,
    CREDPOOL_ANTHROPIC_AUTHORIZE_URL: fake.authorizeUrl,
    CREDPOOL_ANTHROPIC_REDIRECT_URI: fake.codePageUrl,
  };
}

function codexEnv(port: number): NodeJS.ProcessEnv {
  return {
    CREDPOOL_OPENAI_TOKEN_URL: fake.tokenUrl,
    CREDPOOL_OPENAI_AUTHORIZE_URL: fake.authorizeUrl,
    CREDPOOL_OPENAI_DEVICE_URL: fake.deviceUrl,
    CREDPOOL_OPENAI_LOGIN_PORT: String(port),
  };
}

async function credentialsOf(pool: TestPool, provider: string): Promise<Credential[]> {
  const opened = await openPool({ file: { path: pool.path } });
  try {
    return structuredClone(opened.doc.providers[provider]?.credentials ?? []);
  } finally {
    await opened.close();
  }
}

/** Every token of every login the fake issued, and every verifier it was sent, go into the leak scan. */
function registerIssuedSecrets(credentials: readonly Credential[]): void {
  for (const credential of credentials) {
    for (const value of [credential.secrets.accessToken, credential.secrets.refreshToken, credential.secrets.idToken])
      if (value) registerSecret(value);
  }
  for (const call of fake.calls) if (call.codeVerifier) registerSecret(call.codeVerifier);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function portIsClosed(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(false)));
    socket.once("error", () => resolve(true));
  });
}

/** Logs in to anthropic by pasting what the fake's callback page shows; returns the run and the pasted text. */
async function anthropicLogin(pool: TestPool, args: string[] = [], paste?: (page: string) => string) {
  const run = startCli(pool, ["login", "anthropic", "--no-browser", ...args], anthropicEnv());
  const [, url] = await run.waitFor(URL_LINE);
  const page = await fake.browse(url ?? "");
  expect(page.status).toBe(200);
  registerSecret(page.text.split("#")[0] ?? "");
  await run.waitFor(/Paste the code/);
  run.write(`${paste ? paste(page.text) : page.text}\n`);
  return { result: await run.done, url: url ?? "", page: page.text };
}

describe("credpool login anthropic", () => {
  it("PKCE with a pasted code#state: one owned credential, verifier checked, and it refreshes", async () => {
    const pool = await freshPool();
    fake.approveNext({ accountId: "acct-anthropic-a", email: "a@example.test" });
    const callsBefore = fake.calls.length;
    const { result, url } = await anthropicLogin(pool, ["--label", "work"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Logged in as a@example\.test: added anthropic#1 "work"/);
    const authorize = new URL(url).searchParams;
    expect(authorize.get("code_challenge_method")).toBe("S256");
    expect(authorize.get("client_id")).toBe("9d1c250a-e61b-44d9-88ed-5944d1962f5e");
    expect(authorize.get("code")).toBe("true");
    const exchange = fake.calls.slice(callsBefore);
    expect(exchange.map((call) => [call.grantType, call.pkceVerified, call.bodyStyle])).toEqual([
      ["authorization_code", true, "json"],
    ]);
    const [credential, ...others] = await credentialsOf(pool, "anthropic");
    registerIssuedSecrets(credential ? [credential] : []);
    expect(others).toEqual([]);
    const family = fake.current(exchange[0]?.family ?? "");
    expect(credential).toMatchObject({
      label: "work",
      kind: "oauth",
      source: "login",
      email: "a@example.test",
      tokenGeneration: 0,
      secrets: {
        accessToken: family.accessToken,
        refreshToken: family.refreshToken,
        accountId: "acct-anthropic-a",
        expiresAt: expect.any(Number) as number,
      },
    });
    expect(credential?.ownership).toBeUndefined();
    expect(credential?.sourcePath).toBeUndefined();

    // Owned by credpool: the existing refresher rotates it through the same token endpoint.
    const refreshed = await pool.run(["refresh", "work", "--force"], { env: anthropicEnv() });
    expect(refreshed.code, refreshed.stderr).toBe(0);
    expect(fake.current(family.family).generation).toBe(2);
    const [after] = await credentialsOf(pool, "anthropic");
    registerIssuedSecrets(after ? [after] : []);
    expect(after?.secrets.refreshToken).toBe(fake.current(family.family).refreshToken);
  });

  it("a pasted answer with another state is refused before any exchange, and nothing is stored", async () => {
    const pool = await freshPool();
    const callsBefore = fake.calls.length;
    const { result } = await anthropicLogin(pool, [], (page) => `${page.split("#")[0]}#not-the-state`);
    expect(result.code).toBe(17);
    expect(result.stderr).toMatch(/state does not match this login/);
    expect(fake.calls.length).toBe(callsBefore);
    expect(await credentialsOf(pool, "anthropic")).toEqual([]);
  });

  it("a code that was already exchanged is refused with the provider's message", async () => {
    const pool = await freshPool();
    const first = await anthropicLogin(pool);
    expect(first.result.code, first.result.stderr).toBe(0);
    const oldCode = first.page.split("#")[0] ?? "";
    // The second login's state, with the first login's (spent) code.
    const second = await anthropicLogin(pool, [], (page) => `${oldCode}#${page.split("#")[1] ?? ""}`);
    expect(second.result.code).toBe(17);
    expect(second.result.stderr).toMatch(
      /refused the login \(HTTP 400 invalid_grant: Authorization code has already been used\)/,
    );
    const stored = await credentialsOf(pool, "anthropic");
    registerIssuedSecrets(stored);
    expect(stored).toHaveLength(1);
  });

  it("an expired code is refused, and a denial on the consent page stores nothing", async () => {
    const pool = await freshPool();
    fake.approveNext({ codeTtlMs: -1 });
    const expired = await anthropicLogin(pool);
    expect(expired.result.code).toBe(17);
    expect(expired.result.stderr).toMatch(/Authorization code has expired/);

    fake.approveNext({ deny: true });
    const run = startCli(pool, ["login", "anthropic", "--no-browser"], anthropicEnv());
    const [, url] = await run.waitFor(URL_LINE);
    const landed = await fake.browse(url ?? "");
    await run.waitFor(/Paste the code/);
    // The user pastes the redirect they were sent to, which carries error=access_denied.
    run.write(`${landed.location}\n`);
    const denied = await run.done;
    expect(denied.code).toBe(17);
    expect(denied.stderr).toMatch(/the request was denied/);
    expect(await credentialsOf(pool, "anthropic")).toEqual([]);
  });

  it("logging in again to the same account updates it in place, bumps tokenGeneration and revives a dead one", async () => {
    const pool = await freshPool();
    fake.approveNext({ accountId: "acct-relogin", email: "re@example.test" });
    const first = await anthropicLogin(pool, ["--label", "main"]);
    expect(first.result.code, first.result.stderr).toBe(0);
    const [before] = await credentialsOf(pool, "anthropic");
    const opened = await openPool({ file: { path: pool.path } });
    await opened.update((doc) => {
      const credential = doc.providers.anthropic?.credentials[0];
      if (credential) credential.status = { state: "dead", reason: "invalid_grant", since: Date.now() };
    });
    await opened.close();

    fake.approveNext({ accountId: "acct-relogin", email: "re@example.test" });
    const again = await anthropicLogin(pool);
    expect(again.result.code, again.result.stderr).toBe(0);
    expect(again.result.stdout).toMatch(/updated anthropic#1 "main" .* in place; it was dead and is usable again/);
    const after = await credentialsOf(pool, "anthropic");
    registerIssuedSecrets([...after, ...(before ? [before] : [])]);
    expect(after).toHaveLength(1);
    expect(after[0]?.id).toBe(before?.id);
    expect(after[0]?.tokenGeneration).toBe((before?.tokenGeneration ?? 0) + 1);
    expect(after[0]?.status.state).toBe("ok");
    expect(after[0]?.secrets.refreshToken).not.toBe(before?.secrets.refreshToken);

    // Another account is a second credential.
    fake.approveNext({ accountId: "acct-other", email: "other@example.test" });
    const other = await anthropicLogin(pool);
    expect(other.result.code, other.result.stderr).toBe(0);
    const both = await credentialsOf(pool, "anthropic");
    registerIssuedSecrets(both);
    expect(both).toHaveLength(2);
  });
});

describe("credpool login openai-codex", () => {
  it("PKCE through the loopback redirect: the account id comes from the id token, and the port closes", async () => {
    const pool = await freshPool();
    const port = await freePort();
    fake.approveNext({ accountId: "chatgpt-acct-1", email: "codex@example.test" });
    const run = startCli(pool, ["login", "openai-codex"], codexEnv(port));
    const [, url] = await run.waitFor(URL_LINE);
    await run.waitFor(/Waiting for the redirect on 127\.0\.0\.1/);
    const authorize = new URL(url ?? "").searchParams;
    expect(authorize.get("redirect_uri")).toBe(`http://localhost:${port}/auth/callback`);
    expect(authorize.get("scope")).toBe("openid profile email offline_access");
    const landed = await fake.browse(url ?? "");
    expect(landed.status).toBe(200);
    expect(landed.text).toMatch(/Login received/);
    registerSecret(new URL(landed.location).searchParams.get("code") ?? "");
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    const [credential] = await credentialsOf(pool, "openai-codex");
    registerIssuedSecrets(credential ? [credential] : []);
    expect(credential).toMatchObject({ source: "login", email: "codex@example.test" });
    expect(credential?.secrets.accountId).toBe("chatgpt-acct-1");
    expect(fake.calls.at(-1)).toMatchObject({ grantType: "authorization_code", pkceVerified: true, bodyStyle: "form" });
    expect(await portIsClosed(port)).toBe(true);
  });

  it("opens $BROWSER with the URL: a browser that follows it completes the login with no pasting", async () => {
    const pool = await freshPool();
    const browser = join(pool.dir.path, "fake-browser.mjs");
    // Follows the authorize URL and its redirect, as a browser would (localhost reaches the 127.0.0.1 server).
    await writeFile(
      browser,
      `#!${process.execPath}\n` +
        "const first = await fetch(process.argv[2], { redirect: 'manual' });\n" +
        "const next = first.headers.get('location').replace('://localhost:', '://127.0.0.1:');\n" +
        "await (await fetch(next)).text();\n",
    );
    await chmod(browser, 0o755);
    fake.approveNext({ accountId: "chatgpt-acct-browser" });
    const run = startCli(pool, ["login", "openai-codex"], { ...codexEnv(await freePort()), BROWSER: browser });
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/A browser was opened/);
    const [credential] = await credentialsOf(pool, "openai-codex");
    registerIssuedSecrets(credential ? [credential] : []);
    expect(credential?.secrets.accountId).toBe("chatgpt-acct-browser");
  });

  it("a $BROWSER that does not exist is no error: the URL is printed and pasting still works", async () => {
    const pool = await freshPool();
    const run = startCli(pool, ["login", "anthropic"], { ...anthropicEnv(), BROWSER: "/nonexistent/browser" });
    const [, url] = await run.waitFor(URL_LINE);
    const page = await fake.browse(url ?? "");
    registerSecret(page.text.split("#")[0] ?? "");
    await run.waitFor(/Paste the code/);
    run.write(`${page.text}\n`);
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/A browser was opened/);
    registerIssuedSecrets(await credentialsOf(pool, "anthropic"));
  });

  it("falls back to pasting the redirect URL when the port is taken", async () => {
    const pool = await freshPool();
    const squatter: Server = createServer((_req, res) => res.end("someone else"));
    await new Promise<void>((resolve) => squatter.listen(0, "127.0.0.1", resolve));
    const { port } = squatter.address() as { port: number };
    try {
      const run = startCli(pool, ["login", "openai-codex"], codexEnv(port));
      await run.waitFor(new RegExp(`Port ${port} on 127\\.0\\.0\\.1 is in use`));
      const [, url] = await run.waitFor(URL_LINE);
      const landed = await fake.browse(url ?? "");
      registerSecret(new URL(landed.location).searchParams.get("code") ?? "");
      await run.waitFor(/Paste the whole URL/);
      run.write(`${landed.location}\n`);
      const result = await run.done;
      expect(result.code, result.stderr).toBe(0);
      const stored = await credentialsOf(pool, "openai-codex");
      registerIssuedSecrets(stored);
      expect(stored).toHaveLength(1);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it("exits after the timeout when nobody finishes, and on Ctrl-C; the port is closed both times", async () => {
    const pool = await freshPool();
    await writeFile(join(dirname(pool.path), "config.json"), JSON.stringify({ login: { timeoutMs: 1000 } }), {
      mode: 0o600,
    });
    const port = await freePort();
    const idle = startCli(pool, ["login", "openai-codex"], codexEnv(port));
    await idle.waitFor(/Waiting for the redirect/);
    const timedOut = await idle.done;
    expect(timedOut.code).toBe(17);
    expect(timedOut.stderr).toMatch(/timed out and nothing was stored/);
    expect(await portIsClosed(port)).toBe(true);

    await writeFile(join(dirname(pool.path), "config.json"), JSON.stringify({ login: { timeoutMs: 60_000 } }));
    const interrupted = startCli(pool, ["login", "openai-codex"], codexEnv(port));
    await interrupted.waitFor(/Waiting for the redirect/);
    expect(await portIsClosed(port)).toBe(false);
    interrupted.kill("SIGINT");
    const cancelled = await interrupted.done;
    expect(cancelled.code).toBe(17);
    expect(cancelled.stderr).toMatch(/Login cancelled/);
    expect(await portIsClosed(port)).toBe(true);
    expect(await credentialsOf(pool, "openai-codex")).toEqual([]);
  });

  it("--device: authorization_pending, then slow_down (the interval grows by 5 s), then approval", async () => {
    const pool = await freshPool();
    fake.scriptDevice({
      interval: 1,
      script: ["pending", "slow_down"],
      accountId: "dev-acct",
      email: "dev@example.test",
    });
    const callsBefore = fake.calls.length;
    const run = startCli(pool, ["login", "openai-codex", "--device"], codexEnv(await freePort()));
    await run.waitFor(/open http:\/\/127\.0\.0\.1:\d+\/device and enter the code [0-9A-F]{4}-[0-9A-F]{4}/);
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/now every 6 s/);
    const polls = fake.calls
      .slice(callsBefore)
      .filter((call) => call.grantType === "urn:ietf:params:oauth:grant-type:device_code");
    expect(polls.map((call) => call.outcome)).toEqual(["authorization_pending", "slow_down", "login"]);
    const [p1, p2, p3] = polls.map((call) => call.at);
    const before = (p2 ?? 0) - (p1 ?? 0);
    const after = (p3 ?? 0) - (p2 ?? 0);
    // The gap after slow_down (6 s) is the earlier gap (1 s) plus 5 s; compared, not measured against a clock.
    expect(after - before).toBeGreaterThanOrEqual(3000);
    const [credential] = await credentialsOf(pool, "openai-codex");
    registerIssuedSecrets(credential ? [credential] : []);
    expect(credential?.secrets.accountId).toBe("dev-acct");
  });

  it("--device ends clearly on access_denied and on expired_token, storing nothing", async () => {
    const pool = await freshPool();
    fake.scriptDevice({ interval: 0, script: ["pending", "deny"] });
    const denied = startCli(pool, ["login", "openai-codex", "--device"], codexEnv(await freePort()));
    const deniedResult = await denied.done;
    expect(deniedResult.code).toBe(17);
    expect(deniedResult.stderr).toMatch(/The login was denied on the approval page/);

    fake.scriptDevice({ interval: 0, script: ["expire"] });
    const expired = startCli(pool, ["login", "openai-codex", "--device"], codexEnv(await freePort()));
    const expiredResult = await expired.done;
    expect(expiredResult.code).toBe(17);
    expect(expiredResult.stderr).toMatch(/The device code expired before the login was approved/);
    expect(await credentialsOf(pool, "openai-codex")).toEqual([]);
  });
});

describe("credpool login custom:<name>", () => {
  it("runs the flow configured in config.json, and names a bad or missing field", async () => {
    const pool = await freshPool();
    const config = join(dirname(pool.path), "config.json");
    await writeFile(
      config,
      JSON.stringify({
        refresh: { providers: { "custom:idp": { tokenUrl: fake.tokenUrl, clientId: "idp-client" } } },
        login: {
          providers: {
            "custom:idp": {
              flow: "device",
              deviceAuthorizationUrl: fake.deviceUrl,
              scopes: "openid offline_access",
              baseUrl: "https://llm.example.test/v1",
            },
            "custom:half": { flow: "pkce", loopbackPort: 1 },
          },
        },
      }),
      { mode: 0o600 },
    );
    fake.scriptDevice({ interval: 0, email: "idp@example.test" });
    const run = startCli(pool, ["login", "custom:idp", "--label", "idp"], {});
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    const [credential] = await credentialsOf(pool, "custom:idp");
    registerIssuedSecrets(credential ? [credential] : []);
    expect(credential).toMatchObject({
      label: "idp",
      source: "login",
      baseUrl: "https://llm.example.test/v1",
      email: "idp@example.test",
    });
    expect(fake.calls.at(-1)).toMatchObject({ clientId: "idp-client", bodyStyle: "form" });

    const missing = await pool.run(["login", "custom:half", "--no-browser"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/login\.providers\.custom:half\.authorizeUrl: an authorize URL is needed/);

    await writeFile(config, JSON.stringify({ login: { providers: { "custom:idp": { loopbackPort: "1455" } } } }));
    const bad = await pool.run(["login", "custom:idp"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/login\.providers\.custom:idp\.loopbackPort/);
  });
});

describe("credpool login behind TOTP", () => {
  it("is gated like add: no code, no authorize URL and nothing stored; with a code the login goes through", async () => {
    const pool = await freshPool();
    const home = dirname(pool.path);
    const setup = await beginTotpSetup({ home, label: "test" });
    await confirmTotpSetup({
      home,
      principal: "test-setup",
      code: generateTotpCode({ secret: setup.secret, algorithm: setup.algorithm, timestamp: Date.now() - 30_000 }),
    });
    const refused = await pool.run(["login", "anthropic", "--no-browser"], { env: anthropicEnv() });
    expect(refused.code).toBe(9);
    expect(refused.stderr).toMatch(/needs a TOTP code/);
    expect(refused.stderr).not.toMatch(/oauth\/authorize/);

    const code = generateTotpCode({ secret: setup.secret, algorithm: setup.algorithm, timestamp: Date.now() });
    const { result } = await anthropicLogin(pool, ["--totp-code", code]);
    expect(result.code, result.stderr).toBe(0);
    const stored = await credentialsOf(pool, "anthropic");
    registerIssuedSecrets(stored);
    expect(stored).toHaveLength(1);
  });
});

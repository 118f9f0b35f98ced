// The refresh protocol in one process: when it calls the token endpoint, what it commits, and how it fails.
// The cross-process guarantees are in test/refresh/*.test.ts at the repository root.
import { spawnSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  createFileBackend,
  createRefresher,
  createSourceLinks,
  findCredential,
  fingerprintToken,
  isPoolError,
  openPool,
  refreshStateOf,
  type Credential,
  type FileBackend,
  type PoolError,
  type Refresher,
} from "@credpool/pool-core";
import {
  createTempDir,
  startFakeTokenServer,
  type FakeTokenServer,
  type IssuedTokens,
  type TempDir,
} from "@credpool/pool-testkit";
import { inFlightMarkerOf } from "../../src/refresh/token-state.js";

const HOUR = 3_600_000;

describe("refresher", () => {
  let dir: TempDir;
  let server: FakeTokenServer;
  let backend: FileBackend;
  let tokens: IssuedTokens;

  beforeEach(async () => {
    dir = await createTempDir();
    server = await startFakeTokenServer();
    backend = createFileBackend({ path: dir.file("pool.json") });
    tokens = server.issue();
  });
  afterEach(async () => {
    await backend.close();
    await server.close();
    await dir.remove();
  });

  function makeRefresher(extra: Parameters<typeof createRefresher>[0] = {}): Refresher {
    return createRefresher({
      env: { CREDPOOL_ANTHROPIC_TOKEN_URL: server.tokenUrl },
      timeoutMs: 2000,
      ...extra,
    });
  }

  async function seed(fields: Partial<Credential> & { expiresAt?: number } = {}): Promise<Credential> {
    const { expiresAt = Date.now() - 1000, ...rest } = fields;
    const credential: Credential = {
      id: "cred1",
      label: "work",
      provider: "anthropic",
      kind: "oauth",
      priority: 0,
      source: "manual",
      secrets: { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresAt },
      tokenGeneration: 0,
      status: { state: "ok" },
      usage: { requests: 0, failures: 0 },
      ...rest,
    };
    await backend.update((doc) => {
      doc.providers[credential.provider] = { credentials: [credential] };
    });
    return credential;
  }

  /** Another process's new pair for cred1, as its refresh (clearing the marker) or a re-login would store it. */
  function storePair(
    target: FileBackend,
    pair: { accessToken: string; refreshToken: string; expiresAt: number },
    { clearRefreshState }: { clearRefreshState: boolean },
  ): Promise<unknown> {
    return target.update((doc) => {
      const credential = findCredential(doc, "cred1");
      if (!credential) return;
      credential.secrets = {
        accessToken: pair.accessToken,
        refreshToken: pair.refreshToken,
        expiresAt: pair.expiresAt,
      };
      credential.tokenGeneration += 1;
      if (clearRefreshState) credential.refreshState = {};
    });
  }

  async function stored(): Promise<Credential> {
    const found = findCredential((await backend.read()).doc, "cred1");
    if (!found) throw new Error("credential missing");
    return found;
  }

  async function refreshError(promise: Promise<unknown>): Promise<PoolError> {
    try {
      await promise;
    } catch (error) {
      if (isPoolError(error)) return error;
      throw error;
    }
    throw new Error("expected the refresh to fail");
  }

  it("makes no token call while the access token is outside the skew window", async () => {
    await seed({ expiresAt: Date.now() + HOUR });
    const result = await makeRefresher().refresh(backend, "cred1");
    expect(result.outcome).toBe("fresh");
    expect(server.calls).toHaveLength(0);
  });

  it("refreshes a due token with one call and commits the rotated pair with tokenGeneration + 1", async () => {
    await seed();
    const result = await makeRefresher().refresh(backend, "cred1");
    expect(result.outcome).toBe("refreshed");
    expect(server.calls).toHaveLength(1);
    const after = await stored();
    const issued = server.current(tokens.family);
    expect(after.secrets).toMatchObject({ accessToken: issued.accessToken, refreshToken: issued.refreshToken });
    // Anthropic's expiry is now + expires_in, in milliseconds (the fake's JWT exp is whole seconds).
    expect(Math.abs((after.secrets.expiresAt ?? 0) - issued.expiresAt)).toBeLessThan(2000);
    expect(after.tokenGeneration).toBe(1);
    const state = refreshStateOf(after);
    expect(state.usedTokenFps).toEqual([fingerprintToken(tokens.refreshToken)]);
    expect(state.inFlight).toBeUndefined();
  });

  it("shares one attempt between concurrent leases in the same process", async () => {
    await seed();
    const refresher = makeRefresher();
    const pool = await openPool({ backend, refresher: refresher.ensureFresh });
    try {
      const leases = await Promise.all(Array.from({ length: 8 }, () => pool.lease("anthropic")));
      expect(server.calls).toHaveLength(1);
      expect(new Set(leases.map((lease) => lease.token))).toEqual(new Set([server.current(tokens.family).accessToken]));
      await Promise.all(leases.map((lease) => lease.release()));
    } finally {
      await pool.close();
    }
  });

  it("refreshes on a forced request even when the token is not due", async () => {
    await seed({ expiresAt: Date.now() + HOUR });
    const result = await makeRefresher().refresh(backend, "cred1", { force: true });
    expect(result.outcome).toBe("refreshed");
    expect(server.calls).toHaveLength(1);
  });

  it("adopts a newer pair found under the lock instead of calling the endpoint", async () => {
    const stale = await seed();
    // Another process refreshed after this caller looked: the pool holds generation 1 with a good token.
    await makeRefresher().refresh(backend, "cred1");
    expect(server.calls).toHaveLength(1);
    const result = await makeRefresher().refresh(backend, "cred1", { seen: stale });
    expect(result.outcome).toBe("adopted");
    expect(result.credential.tokenGeneration).toBe(1);
    expect(server.calls).toHaveLength(1);
    server.assertNoReuse();
  });

  it("marks the credential dead on invalid_grant, with advice, and never sends that token again", async () => {
    await seed({ source: "codex", provider: "anthropic" });
    server.revoke(tokens.family);
    const refresher = makeRefresher();
    const error = await refreshError(refresher.refresh(backend, "cred1"));
    expect(error.code).toBe("E_REFRESH_FAILED");
    expect(error.message).toMatch(/rejected its refresh token \(invalid_grant/);
    expect(error.message).toContain("codex login");
    const after = await stored();
    expect(after.status).toMatchObject({ state: "dead", reason: "invalid_grant", httpStatus: 400 });
    expect(refreshStateOf(after).rejectedTokenFp).toBe(fingerprintToken(tokens.refreshToken));

    // No loop: neither another attempt, nor a forced one, nor one after an explicit reset sends it again.
    await refreshError(refresher.refresh(backend, "cred1"));
    await refreshError(refresher.refresh(backend, "cred1", { force: true }));
    await backend.update((doc) => {
      const credential = findCredential(doc, "cred1");
      if (credential) credential.status = { state: "ok" };
    });
    const again = await refreshError(makeRefresher().refresh(backend, "cred1"));
    expect(again.message).toMatch(/already rejected/);
    expect(server.calls).toHaveLength(1);
    expect((await stored()).status.state).toBe("dead");
  });

  it("backs off as Retry-After says, benches an expired credential, and sends nothing during the backoff", async () => {
    await seed();
    server.script({ type: "status", status: 429, headers: { "retry-after": "30" }, body: { error: "rate_limited" } });
    const refresher = makeRefresher();
    const before = Date.now();
    const error = await refreshError(refresher.refresh(backend, "cred1"));
    expect(error.retryAfterMs).toBe(30_000);
    const after = await stored();
    expect(after.status).toMatchObject({ state: "exhausted", reason: "refresh_rate_limited", httpStatus: 429 });
    expect(after.status.until).toBeGreaterThanOrEqual(before + 30_000);
    expect(refreshStateOf(after).backoffUntil).toBe(after.status.until);
    // Another process (a second refresher) respects the persisted backoff.
    const second = await refreshError(makeRefresher().refresh(backend, "cred1"));
    expect(second.message).toMatch(/backed off/);
    expect(server.calls).toHaveLength(1);
    expect((await stored()).secrets.refreshToken).toBe(tokens.refreshToken);
  });

  it("keeps serving a still-valid token when an early refresh hits a 5xx, with exponential backoff", async () => {
    await seed({ expiresAt: Date.now() + 60_000 });
    server.script({ type: "status", status: 503 });
    const refresher = makeRefresher({ backoffBaseMs: 7000 });
    const before = Date.now();
    const result = await refresher.refresh(backend, "cred1");
    expect(result.outcome).toBe("fresh");
    expect(result.credential.secrets.accessToken).toBe(tokens.accessToken);
    const after = await stored();
    expect(after.status.state).toBe("ok");
    expect(refreshStateOf(after).backoffUntil).toBeGreaterThanOrEqual(before + 7000);
    expect(refreshStateOf(after).strikes).toBe(1);
  });

  it("treats a timeout as an unknown outcome: dead with advice, and the old token is not resent", async () => {
    await seed({ source: "claude-code" });
    server.script({ type: "rotate-then-delay", delayMs: 1500 });
    const refresher = makeRefresher({ timeoutMs: 200 });
    const error = await refreshError(refresher.refresh(backend, "cred1"));
    expect(error.message).toMatch(/no usable answer/);
    expect(error.message).toContain("credpool import claude-code");
    expect(error.message).toContain("credpool refresh work --force");
    expect((await stored()).status).toMatchObject({ state: "dead", reason: "refresh_outcome_unknown" });
    await refreshError(makeRefresher().refresh(backend, "cred1"));
    expect(server.calls).toHaveLength(1);
    server.assertNoReuse();
  });

  it("names the interrupted attempt when the provider rejects a token an earlier process died holding", async () => {
    // A process that has exited: its in-flight marker is what a SIGKILL mid-request leaves behind.
    const exited = spawnSync(process.execPath, ["-e", "process.exit(0)"]).pid ?? 999_999;
    await seed({
      source: "claude-code",
      refreshState: {
        inFlight: {
          since: Date.now() - 1000,
          host: (await import("node:os")).hostname(),
          pid: exited,
          tokenFp: fingerprintToken(tokens.refreshToken),
        },
      },
    });
    // What that process's request did at the provider: rotate the token, then die before committing.
    await fetch(server.tokenUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ grant_type: "refresh_token", refresh_token: tokens.refreshToken }),
    });
    const error = await refreshError(makeRefresher().refresh(backend, "cred1"));
    expect(error.message).toContain(`An earlier refresh by process ${exited}`);
    expect(error.message).toMatch(/died \(or lost its lock\) after the provider rotated the token/);
    expect(error.message).toContain("credpool import claude-code");
    expect(server.calls).toHaveLength(2);
    expect((await stored()).status.state).toBe("dead");
  });

  it("waits for a live process that is still mid-request instead of sending the same token", async () => {
    await seed({
      refreshState: {
        inFlight: {
          since: Date.now(),
          host: (await import("node:os")).hostname(),
          pid: process.ppid,
          tokenFp: fingerprintToken(tokens.refreshToken),
        },
      },
    });
    const refresher = makeRefresher({ timeoutMs: 300 });
    const error = await refreshError(refresher.refresh(backend, "cred1"));
    expect(error.message).toMatch(/is still refreshing it/);
    expect(server.calls).toHaveLength(0);
  });

  // 120 waiters each polling the lock took the CPU the holder needed to commit (bench/lib/fanout.mjs).
  it("waits for the commit of a live holder whose request the pool shows in flight, without polling its lock", async () => {
    await seed({
      refreshState: {
        inFlight: {
          since: Date.now(),
          host: (await import("node:os")).hostname(),
          pid: process.ppid,
          tokenFp: fingerprintToken(tokens.refreshToken),
        },
      },
    });
    const holder = createFileBackend({ path: dir.file("pool.json") });
    const held = await holder.lock("refresh:cred1");
    let lockTries = 0;
    const counting: FileBackend = {
      ...backend,
      lock: (name, options) => {
        lockTries++;
        return backend.lock(name, options);
      },
    };
    const pool = await openPool({ backend: counting, refresher: makeRefresher({ timeoutMs: 10_000 }).ensureFresh });
    try {
      const leasing = pool.lease("anthropic");
      // Polling every 10 to 100 ms, as before, made about eight tries in this time.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(lockTries).toBeLessThanOrEqual(1);
      const rotated = server.issue();
      await storePair(holder, rotated, { clearRefreshState: true });
      const lease = await leasing;
      expect(lease.token).toBe(rotated.accessToken);
      expect(server.calls).toHaveLength(0);
      await lease.release();
    } finally {
      await pool.close();
      await held.release();
      await holder.close();
    }
  });

  // models/refresh.pml (mutant M_MARKER_TOKEN_ONLY): the marker swap compared only the refresh token, so a holder that
  // lost its lock while paused overwrote the marker of the process that broke it, and both sent the token.
  it("does not overwrite another process's in-flight marker that landed after its read, and adopts that result", async () => {
    await seed();
    const other = {
      since: Date.now(),
      host: "another-host",
      pid: 4242,
      tokenFp: fingerprintToken(tokens.refreshToken),
    };
    const rotated = server.issue();
    let raced = false;
    // The first update() the refresher makes is its marker swap: another process's marker lands just before it.
    const racing: FileBackend = {
      ...backend,
      update: async (fn) => {
        if (!raced) {
          raced = true;
          await backend.update((doc) => {
            const credential = findCredential(doc, "cred1");
            if (credential) credential.refreshState = { inFlight: other };
          });
          // That process then commits its new pair, which our refresher must adopt rather than send the old token.
          setTimeout(() => {
            void storePair(backend, rotated, { clearRefreshState: true });
          }, 50);
        }
        return backend.update(fn);
      },
    };
    const result = await makeRefresher().refresh(racing, "cred1");
    expect(server.calls).toHaveLength(0);
    expect(result.outcome).toBe("adopted");
    expect(result.credential.secrets.refreshToken).toBe(rotated.refreshToken);
  });

  it("discards its own result when the pair was replaced during the request (a re-login wins)", async () => {
    await seed();
    server.script({ type: "rotate-then-hold" });
    const pending = makeRefresher().refresh(backend, "cred1");
    await server.waitForCalls(1);
    const relogin = server.issue();
    await storePair(backend, relogin, { clearRefreshState: false });
    server.releaseHeld();
    const result = await pending;
    expect(result.outcome).toBe("adopted");
    expect((await stored()).secrets.refreshToken).toBe(relogin.refreshToken);
  });

  it("never refreshes a borrowed credential, but re-reads its file and adopts the new token", async () => {
    const file = dir.file("claude.json");
    await seed({ source: "claude-code", sourcePath: file, ownership: "borrow" });
    await writeFile(
      file,
      JSON.stringify({
        claudeAiOauth: {
          accessToken: tokens.accessToken,
          refreshToken: tokens.refreshToken,
          expiresAt: Date.now() - 1000,
        },
      }),
    );
    const refresher = makeRefresher({ links: createSourceLinks({ env: {} }), borrowedRecheckMs: 60_000 });
    const error = await refreshError(refresher.refresh(backend, "cred1"));
    expect(error.message).toMatch(/borrowed from .*claude\.json: Claude Code refreshes it/);
    expect(error.message).toContain("credpool import claude-code --own");
    expect((await stored()).status).toMatchObject({ state: "exhausted", reason: "expired" });

    // Claude Code refreshed: the next attempt reads the file and adopts, clearing the bench.
    const rotated = server.issue();
    await writeFile(
      file,
      JSON.stringify({
        claudeAiOauth: {
          accessToken: rotated.accessToken,
          refreshToken: rotated.refreshToken,
          expiresAt: Date.now() + HOUR,
        },
      }),
    );
    const result = await refresher.refresh(backend, "cred1", { force: true });
    expect(result.outcome).toBe("adopted");
    expect(result.credential.secrets.accessToken).toBe(rotated.accessToken);
    expect(result.credential.status.state).toBe("ok");
    expect(server.calls).toHaveLength(0);
  });

  it("refuses to refresh an owned, linked credential when no source links were configured", async () => {
    await seed({ source: "claude-code", sourcePath: dir.file("claude.json"), ownership: "own" });
    const error = await refreshError(makeRefresher().refresh(backend, "cred1"));
    expect(error.message).toMatch(/without source links/);
    expect(server.calls).toHaveLength(0);
  });

  it("serves a provider without a token endpoint while its token lasts, then benches it instead of failing every lease", async () => {
    await seed({ provider: "nous", expiresAt: Date.now() + 30_000 });
    const refresher = makeRefresher();
    // Due (inside the skew) but still valid: served as it is.
    expect((await refresher.refresh(backend, "cred1")).outcome).toBe("fresh");
    await backend.update((doc) => {
      const credential = findCredential(doc, "cred1");
      if (credential) credential.secrets.expiresAt = Date.now() - 1000;
    });
    const error = await refreshError(makeRefresher().refresh(backend, "cred1"));
    expect(error.message).toContain("CREDPOOL_NOUS_TOKEN_URL");
    expect((await stored()).status).toMatchObject({ state: "exhausted", reason: "expired" });
    expect(server.calls).toHaveLength(0);
  });

  it("gives leases the refreshed access token and never the refresh token", async () => {
    await seed();
    const pool = await openPool({ backend, refresher: makeRefresher().ensureFresh });
    try {
      const lease = await pool.lease("anthropic");
      expect(lease.token).toBe(server.current(tokens.family).accessToken);
      expect(JSON.stringify(lease)).not.toContain("rt-");
      await lease.release();
    } finally {
      await pool.close();
    }
  });
});

// A waiter reads the marker on every pool change without the schema (bench/lib/fanout.mjs): it must see what the
// refresher under the lock sees.
describe("inFlightMarkerOf", () => {
  const valid = { since: 1_700_000_000_000, host: "h", pid: 4242, tokenFp: "sha256:0123456789abcdef" };
  const states: unknown[] = [
    undefined,
    null,
    "garbage",
    {},
    { inFlight: valid },
    { inFlight: { ...valid, extra: true }, lastRefreshAt: 5 },
    { inFlight: null },
    { inFlight: [] },
    { inFlight: { ...valid, since: Number.NaN } },
    { inFlight: { ...valid, since: "1700000000000" } },
    { inFlight: { ...valid, pid: 1.5 } },
    { inFlight: { ...valid, pid: 2 ** 60 } },
    { inFlight: { ...valid, host: undefined } },
    { inFlight: { ...valid, tokenFp: 7 } },
  ];
  it.each(states.map((state) => [JSON.stringify(state) ?? "undefined", state]))(
    "agrees with refreshStateOf for %s",
    (_name, state) => {
      const credential = { refreshState: state } as unknown as Credential;
      expect(inFlightMarkerOf(credential)).toEqual(refreshStateOf(credential).inFlight);
    },
  );
});

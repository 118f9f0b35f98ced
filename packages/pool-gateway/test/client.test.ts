// The typed client against a real server: withLease reports the outcome `fn` produced (429s included) and always
// releases; a delegate agent needs nothing but CREDPOOL_GATEWAY_URL and CREDPOOL_GATEWAY_TOKEN.
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import {
  createGatewayClient,
  startGatewayServer,
  type GatewayClient,
  type RunningGateway,
} from "@credpool/pool-gateway";
import { spawnChild } from "@credpool/pool-testkit";
import { afterEach, describe, expect, it } from "vitest";
import { FIXTURE, checkLogsAndResponsesAfterAll, useGatewayFixture, type GatewayFixture } from "./helpers.js";

checkLogsAndResponsesAfterAll();

const delegateScript = fileURLToPath(new URL("./children/delegate-agent.mjs", import.meta.url));

describe("createGatewayClient().withLease", () => {
  const open = useGatewayFixture();
  let gateway: RunningGateway | undefined;
  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
  });

  async function setup(): Promise<{ fixture: GatewayFixture; client: GatewayClient }> {
    const fixture = await open();
    gateway = await startGatewayServer({ handler: fixture.handler, port: 0 });
    return { fixture, client: createGatewayClient({ url: gateway.url, token: fixture.leaseToken }) };
  }

  /** The capped credential's state as another process would read it from disk. */
  async function cappedOnDisk(fixture: GatewayFixture) {
    const { doc } = await fixture.pool.backend.read();
    const credential = doc.providers.capped?.credentials[0];
    if (!credential) throw new Error("capped credential missing");
    return credential;
  }

  it("releases with outcome ok when fn returns a 2xx, and hands fn an access token only", async () => {
    const { fixture, client } = await setup();
    const result = await client.withLease("capped", (lease) => {
      expect(lease.token).toBe(FIXTURE.cappedKey);
      return Promise.resolve({ status: 200, body: "fine" });
    });
    expect(result).toEqual({ status: 200, body: "fine" });
    const credential = await cappedOnDisk(fixture);
    expect(credential.leases ?? []).toEqual([]);
    expect(credential.status.state).toBe("ok");
    expect(fixture.handler.services.leases.size).toBe(0);
  });

  it("reports a returned {status: 429, headers} (plain object) with its Retry-After, benching the credential", async () => {
    const { fixture, client } = await setup();
    const before = Date.now();
    const result = await client.withLease("capped", () =>
      Promise.resolve({ status: 429, headers: { "Retry-After": "120" } }),
    );
    expect(result.status).toBe(429);
    const credential = await cappedOnDisk(fixture);
    expect(credential.leases ?? []).toEqual([]);
    expect(credential.status).toMatchObject({ state: "exhausted", reason: "rate_limit", httpStatus: 429 });
    // 120 s from the header, not the 60 s default for a sole credential with no reset information.
    expect(credential.status.until).toBeGreaterThanOrEqual(before + 119_000);
  });

  it("reports a returned fetch Response with status 429 and its headers", async () => {
    const { fixture, client } = await setup();
    const before = Date.now();
    const response = await client.withLease("capped", () =>
      Promise.resolve(new Response("slow down", { status: 429, headers: { "retry-after": "300" } })),
    );
    expect(response.status).toBe(429);
    const credential = await cappedOnDisk(fixture);
    expect(credential.status.state).toBe("exhausted");
    expect(credential.status.until).toBeGreaterThanOrEqual(before + 299_000);
  });

  it("reports a thrown error's status 429, rethrows the same error and releases the lease", async () => {
    const { fixture, client } = await setup();
    const thrown = Object.assign(new Error("429 Too Many Requests"), {
      status: 429,
      headers: { "retry-after": "200" },
    });
    await expect(client.withLease("capped", () => Promise.reject(thrown))).rejects.toBe(thrown);
    const credential = await cappedOnDisk(fixture);
    expect(credential.leases ?? []).toEqual([]);
    expect(credential.status).toMatchObject({ state: "exhausted", reason: "rate_limit", httpStatus: 429 });
    expect(fixture.handler.services.leases.size).toBe(0);
  });

  it("releases when fn throws an error without a status, reporting it as a failed request (status 0)", async () => {
    const { fixture, client } = await setup();
    const thrown = new TypeError("fetch failed");
    await expect(client.withLease("capped", () => Promise.reject(thrown))).rejects.toBe(thrown);
    const credential = await cappedOnDisk(fixture);
    expect(credential.leases ?? []).toEqual([]);
    expect(credential.status).toMatchObject({ state: "exhausted", httpStatus: 0 });
    expect(fixture.handler.services.leases.size).toBe(0);
  });

  it("releases every time fn throws, so a capped credential never fills up with dead leases", async () => {
    const { fixture, client } = await setup();
    // A 400 is the request's fault and benches nothing; with a cap of 2, a leaked lease would refuse the third call.
    for (let i = 0; i < 4; i++) {
      const thrown = Object.assign(new Error(`bad request ${i}`), { status: 400 });
      await expect(client.withLease("capped", () => Promise.reject(thrown))).rejects.toBe(thrown);
    }
    expect((await cappedOnDisk(fixture)).leases ?? []).toEqual([]);
    expect((await cappedOnDisk(fixture)).status.state).toBe("ok");
    expect(fixture.handler.services.leases.size).toBe(0);
  });

  it("rejects with the gateway's error code when no credential is available, without calling fn", async () => {
    const { client } = await setup();
    let called = false;
    await expect(
      client.withLease("mistral", () => {
        called = true;
        return Promise.resolve(null);
      }),
    ).rejects.toMatchObject({ code: "E_NO_CREDENTIAL" });
    expect(called).toBe(false);
  });
});

describe("a delegate agent with only the two environment variables", () => {
  const open = useGatewayFixture();

  it("leases and releases through CREDPOOL_GATEWAY_URL and CREDPOOL_GATEWAY_TOKEN", async () => {
    const fixture = await open();
    const gateway = await startGatewayServer({ handler: fixture.handler, port: 0 });
    try {
      const child = spawnChild(delegateScript, ["capped"], {
        env: {
          CREDPOOL_GATEWAY_URL: gateway.url,
          CREDPOOL_GATEWAY_TOKEN: fixture.leaseToken,
          EXPECTED_TOKEN_SHA256: createHash("sha256").update(FIXTURE.cappedKey).digest("hex"),
        },
      });
      const report = await child.waitFor<{ done?: boolean; tokenMatches?: boolean }>((m) => m.done === true);
      expect(await child.exited).toEqual({ code: 0, signal: null });
      expect(report.tokenMatches).toBe(true);
      expect(fixture.handler.services.leases.size).toBe(0);
      const { doc } = await fixture.pool.backend.read();
      expect(doc.providers.capped?.credentials[0]?.leases ?? []).toEqual([]);
    } finally {
      await gateway.close();
    }
  });
});

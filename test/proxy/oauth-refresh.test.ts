// A 401 on an OAuth credential goes through the pool's single-flight refresher and the request is retried once on
// the same credential: 16 requests that all hit the expired token cost exactly one refresh.
import { startFakeTokenServer, type FakeTokenServer } from "@credpool/pool-testkit";
import { afterEach, describe, expect, it } from "vitest";
import { startProxyWorld, type ProxyWorld } from "./world.js";

const CONCURRENT = 16;

describe("proxy: 401 on an OAuth credential", () => {
  let world: ProxyWorld | undefined;
  let tokenServer: FakeTokenServer | undefined;
  afterEach(async () => {
    await world?.stop();
    await tokenServer?.close();
    world = undefined;
    tokenServer = undefined;
  });

  it(`refreshes once for ${CONCURRENT} concurrent requests and every one succeeds with the new token`, async () => {
    tokenServer = await startFakeTokenServer();
    const issued = tokenServer.issue({ family: "proxy401" });
    world = await startProxyWorld({
      credentials: [
        {
          provider: "anthropic",
          kind: "oauth",
          label: "claude-max",
          secrets: { accessToken: issued.accessToken, refreshToken: issued.refreshToken, expiresAt: issued.expiresAt },
        },
      ],
      env: { CREDPOOL_ANTHROPIC_TOKEN_URL: tokenServer.tokenUrl },
    });
    // The provider has revoked the access token early, though it has not expired by the clock.
    world.upstream.behave(issued.accessToken, { type: "status", status: 401, message: "OAuth token has expired." });
    const gatewayUrl = world.gateway.url;
    const token = world.token;
    const responses = await Promise.all(
      Array.from({ length: CONCURRENT }, (_, index) =>
        fetch(`${gatewayUrl}/anthropic/v1/messages?beta=true`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${token}`,
            "anthropic-version": "2023-06-01",
            "anthropic-beta": "prompt-caching-2024-07-31",
            "content-type": "application/json",
          },
          body: JSON.stringify({
            model: "claude-fake-1",
            max_tokens: 16,
            stream: index % 2 === 0,
            messages: [{ role: "user", content: "hi" }],
          }),
        }).then(async (response) => ({ status: response.status, text: await response.text() })),
      ),
    );
    expect(responses.map((response) => response.status)).toEqual(Array(CONCURRENT).fill(200));
    expect(tokenServer.calls).toHaveLength(1);
    tokenServer.assertNoReuse();
    const renewed = tokenServer.current("proxy401").accessToken;
    expect(renewed).not.toBe(issued.accessToken);
    const served = world.upstream.requestsFor(renewed);
    expect(served).toHaveLength(CONCURRENT);
    for (const request of world.upstream.requests) {
      expect(request.url).toBe("/v1/messages?beta=true");
      expect(request.headers["x-api-key"]).toBeUndefined();
      expect(request.headers["anthropic-beta"]).toBe("prompt-caching-2024-07-31,oauth-2025-04-20");
      const raw = request.rawHeaders.join("\n");
      expect(raw).not.toContain(token);
      expect(raw).not.toContain(issued.refreshToken);
      expect(raw).not.toContain(tokenServer.current("proxy401").refreshToken);
    }
    expect((await world.credential("claude-max")).status.state).toBe("ok");
    // Each request that met the 401 was sent again once, after the (shared) renewal.
    const refused = world.upstream.requestsFor(issued.accessToken).length;
    expect(refused).toBeGreaterThan(0);
    const admin = await world.createToken("ops", "admin");
    const metrics = await (
      await fetch(`${gatewayUrl}/metrics`, { headers: { authorization: `Bearer ${admin}` } })
    ).text();
    expect(metrics).toContain(`credpool_proxy_refresh_retries_total{provider="anthropic"} ${refused}`);
  });
});

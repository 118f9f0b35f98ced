// Metric labels are bounded: a client inventing provider names cannot add series, and no control character from
// a request reaches a label.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { checkLogsAndResponsesAfterAll, useGatewayFixture } from "./helpers.js";

checkLogsAndResponsesAfterAll();

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function inventedProvider(i: number): string {
  // Printable names, and names with NUL, escape sequences and C1 controls in them.
  const noise = randomBytes(6).toString("hex");
  return i % 2 === 0 ? `made-up-${noise}` : `x\u0000${noise}\u001b]0;title\u0007\u009b${i}`;
}

describe("provider labels in /metrics", () => {
  const open = useGatewayFixture();

  it("counts 2,000 refused leases of invented providers under one label, keeping /metrics the same size", async () => {
    const fixture = await open();
    const lease = (provider: string) => fixture.call("POST", "/v1/leases", { body: { provider } });
    expect((await lease("anthropic")).status).toBe(201);
    // One refusal of each kind, and a scrape, so every series that rightly exists is there before the baseline.
    for (let i = -2; i < 0; i++) expect((await lease(inventedProvider(i))).status).toBeGreaterThanOrEqual(400);
    await fixture.call("GET", "/metrics");
    const before = (await fixture.call("GET", "/metrics")).text;

    for (let i = 1; i <= 2000; i++) expect((await lease(inventedProvider(i))).status).toBeGreaterThanOrEqual(400);
    const after = (await fixture.call("GET", "/metrics")).text;

    // Counts grow by a few digits; a series per name would add some 100 KB.
    expect(after.length - before.length).toBeLessThan(500);
    expect(after).toContain('credpool_leases_total{provider="other",outcome="denied"} 2002');
    expect(after).toContain('credpool_leases_total{provider="anthropic",outcome="granted"} 1');
    const withControls = after.split("\n").filter((line) => CONTROL.test(line));
    expect(withControls).toEqual([]);
  });

  it("labels a provider the pool holds by its name, even when it is not a built-in one", async () => {
    const fixture = await open();
    expect((await fixture.call("POST", "/v1/leases", { body: { provider: "capped" } })).status).toBe(201);
    const metrics = (await fixture.call("GET", "/metrics")).text;
    expect(metrics).toContain('credpool_leases_total{provider="capped",outcome="granted"} 1');
  });
});

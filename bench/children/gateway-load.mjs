// Load generator for the gateway group: `concurrency` keep-alive connections, each running lease + release in a
// loop (one client token per connection, as separate workers would have). Runs in its own process.
import { buildPost, openConnection } from "../lib/http-load.mjs";
import { failOnError, onMessages, send, sharedNow, sleep } from "./ipc.mjs";

failOnError();

const LEASE_ID = /"leaseId":"([^"]+)"/;

/**
 * One measured phase. Ops (lease + release pairs) completed inside the measuring window are counted; lease
 * latencies inside it are kept. Anything but 201/200 is an error and stops nothing: it is counted and reported.
 */
async function runPhase({ url, tokens, provider, concurrency, warmupMs, durationMs, thinkMs = 0 }) {
  const { hostname: host, port: portText } = new URL(url);
  const port = Number(portText);
  const leaseBody = JSON.stringify({ provider });
  const connections = await Promise.all(
    Array.from({ length: concurrency }, async () => {
      const connection = openConnection(host, port);
      await connection.ready;
      return connection;
    }),
  );
  const started = performance.now();
  const measureFrom = started + warmupMs;
  const measureUntil = measureFrom + durationMs;
  const latencies = [];
  /** When each kept lease was sent, on the clock shared across processes (lib/stats.mjs sharedNow). */
  const sentAt = [];
  const statuses = {};
  let ops = 0;
  let errors = 0;

  async function worker(index) {
    const connection = connections[index];
    const auth = { Authorization: `Bearer ${tokens[index % tokens.length]}` };
    const lease = buildPost(host, port, "/v1/leases", auth, leaseBody);
    for (;;) {
      const t0 = performance.now();
      if (t0 >= measureUntil) return;
      const leased = await connection.request(lease);
      const t1 = performance.now();
      const leaseId = leased.status === 201 ? LEASE_ID.exec(leased.body)?.[1] : undefined;
      if (!leaseId) {
        errors++;
        statuses[leased.status] = (statuses[leased.status] ?? 0) + 1;
        continue;
      }
      const released = await connection.request(
        buildPost(host, port, `/v1/leases/${leaseId}/release`, auth, '{"outcome":"ok"}'),
      );
      const t2 = performance.now();
      if (released.status !== 200) {
        errors++;
        statuses[released.status] = (statuses[released.status] ?? 0) + 1;
        continue;
      }
      if (t0 >= measureFrom && t2 <= measureUntil) {
        ops++;
        latencies.push(t1 - t0);
        sentAt.push(sharedNow() - (performance.now() - t0));
      }
      // Paced phases leave room between operations, so latency shows service time rather than queueing.
      if (thinkMs > 0) await sleep(thinkMs * (0.5 + Math.random()));
    }
  }

  await Promise.all(connections.map((_, index) => worker(index)));
  for (const connection of connections) connection.close();
  return { ops, errors, statuses, seconds: durationMs / 1000, latencies, sentAt };
}

onMessages("phase", (message) => {
  runPhase(message).then(
    (result) => send({ type: "phase-done", id: message.id, ...result }),
    (error) => send({ type: "error", message: String(error?.stack ?? error) }),
  );
});
send({ type: "ready" });

// maxConnections: at the cap the oldest idle connection makes room for a new one; only when every connection has
// a request in flight is a newcomer refused, with a 503 that says why. The file-limit case, against a real
// gateway process: test/gateway/connection-cap.test.ts.
import { connect, type Socket } from "node:net";
import { startGatewayServer, type RunningGateway } from "@credpool/pool-gateway";
import { afterEach, describe, expect, it } from "vitest";
import { checkLogsAndResponsesAfterAll, recordResponse, sendHttp, useGatewayFixture } from "./helpers.js";

checkLogsAndResponsesAfterAll();

const CAP = 20;

interface RawConnection {
  readonly socket: Socket;
  /** Everything received so far. */
  received(): string;
  readonly closed: Promise<void>;
}

function openConnection(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    let text = "";
    const socket = connect({ host: "127.0.0.1", port });
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      text += chunk;
    });
    const closed = new Promise<void>((done) => socket.once("close", () => done()));
    socket.on("error", () => undefined);
    socket.once("connect", () => resolve({ socket, received: () => text, closed }));
    socket.once("error", reject);
  });
}

describe("the connection cap", () => {
  const open = useGatewayFixture();
  const held: Socket[] = [];
  let gateway: RunningGateway | undefined;
  afterEach(async () => {
    for (const socket of held.splice(0)) socket.destroy();
    await gateway?.close();
    gateway = undefined;
  });

  it("refuses a connection with 503 E_TOO_MANY_CONNECTIONS while all are busy, and serves again once one is free", async () => {
    const fixture = await open();
    gateway = await startGatewayServer({ handler: fixture.handler, port: 0, maxConnections: CAP });
    const port = Number(new URL(gateway.url).port);
    const body = '{"provider":"openrouter"}';
    const busy: RawConnection[] = [];
    for (let i = 0; i < CAP; i++) {
      const connection = await openConnection(port);
      held.push(connection.socket);
      // Headers now, body later: the request is in flight. Node answers "100 Continue" as it emits the request.
      connection.socket.write(
        `POST /v1/leases HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${fixture.leaseToken}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`,
      );
      await expect.poll(() => connection.received()).toContain("100 Continue");
      busy.push(connection);
    }

    const refused = await openConnection(port);
    held.push(refused.socket);
    await refused.closed;
    recordResponse(refused.received());
    expect(refused.received()).toMatch(/^HTTP\/1\.1 503 /);
    expect(refused.received()).toContain('"code":"E_TOO_MANY_CONNECTIONS"');
    expect(refused.received()).toContain(`limit of ${CAP} connections`);
    expect(refused.received()).toMatch(/retry-after: 1\r\n/i);

    // One busy request completes; its connection is now idle, so a fresh client takes its place.
    const first = busy[0]!;
    first.socket.write(body);
    await expect.poll(() => first.received()).toContain("201 Created");
    recordResponse(first.received());
    const served = await sendHttp(
      { host: "127.0.0.1", port },
      { method: "GET", path: "/v1/pool", headers: { authorization: `Bearer ${fixture.leaseToken}` } },
    );
    expect(served.status).toBe(200);
    await first.closed;
  });

  it("closes the oldest idle connections to stay at the cap, and serves a fresh client", async () => {
    const fixture = await open();
    gateway = await startGatewayServer({ handler: fixture.handler, port: 0, maxConnections: CAP });
    const port = Number(new URL(gateway.url).port);
    const idle: RawConnection[] = [];
    for (let i = 0; i < CAP + 10; i++) {
      const connection = await openConnection(port);
      held.push(connection.socket);
      idle.push(connection);
    }
    const served = await sendHttp(
      { host: "127.0.0.1", port },
      { method: "GET", path: "/v1/pool", headers: { authorization: `Bearer ${fixture.leaseToken}` } },
    );
    expect(served.status).toBe(200);
    // The fresh client took a slot too, so the 11 oldest idle connections went: closed without a word.
    await Promise.all(idle.slice(0, 11).map((connection) => connection.closed));
    expect(idle.slice(0, 11).map((connection) => connection.received())).toEqual(Array(11).fill(""));
    expect(idle.slice(11).every((connection) => !connection.socket.destroyed)).toBe(true);
  });

  it("rejects a maxConnections that is not a positive integer, naming it", async () => {
    const fixture = await open();
    await expect(startGatewayServer({ handler: fixture.handler, port: 0, maxConnections: 0 })).rejects.toMatchObject({
      code: "E_INVALID_OPTIONS",
      message: expect.stringContaining("maxConnections") as string,
    });
  });
});

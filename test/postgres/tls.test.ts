// TLS options reach the driver: store.ssl and the URL's sslmode/sslrootcert. The server here speaks plain text, so a
// small TLS front (it answers PostgreSQL's SSLRequest, terminates TLS with a throwaway certificate and pipes to the
// real server) stands in for a TLS-enabled PostgreSQL.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createServer, connect, type Server, type Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTempDir } from "@credpool/pool-testkit";
import { isPoolError, loadCredpoolConfig } from "@credpool/pool-core";
import { createPostgresBackend, resolveDriverSsl } from "@credpool/pool-postgres";
import { PG_AVAILABLE, PG_URL, dropSchema, uniqueSchema } from "./pg-server.js";

const schema = uniqueSchema("tls");
const real = new URL(PG_URL);
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

function makeCertificate(dir: string, name: string, host: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      `/CN=${host}`,
      "-addext",
      `subjectAltName=DNS:${host}`,
      "-keyout",
      key,
      "-out",
      cert,
    ],
    { stdio: "ignore" },
  );
  return { cert, key };
}

/** Answers SSLRequest with 'S', does the TLS handshake, then relays to the real server. Counts TLS sessions. */
function startTlsFront(cert: string, key: string): Promise<{ server: Server; port: number; sessions: () => number }> {
  let sessions = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once("data", (first) => {
      if (!first.equals(SSL_REQUEST)) {
        socket.destroy();
        return;
      }
      socket.write("S");
      const tls = new TLSSocket(socket, { isServer: true, cert: readFileSync(cert), key: readFileSync(key) });
      tls.on("error", () => socket.destroy());
      tls.once("secure", () => {
        sessions += 1;
        const upstream = connect(Number(real.port || 5432), real.hostname);
        upstream.on("error", () => tls.destroy());
        tls.pipe(upstream).pipe(tls);
      });
    });
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("close", () => {
    for (const socket of sockets) socket.destroy();
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve({ server, port: typeof address === "object" && address ? address.port : 0, sessions: () => sessions });
    }),
  );
}

describe.skipIf(!PG_AVAILABLE)("TLS to PostgreSQL", () => {
  let temp: Awaited<ReturnType<typeof createTempDir>>;
  let front: Awaited<ReturnType<typeof startTlsFront>>;
  let good: { cert: string; key: string };
  let other: { cert: string; key: string };
  let frontUrl: string;

  beforeAll(async () => {
    temp = await createTempDir("credpool-tls-");
    good = makeCertificate(temp.path, "server", "localhost");
    other = makeCertificate(temp.path, "other", "localhost");
    front = await startTlsFront(good.cert, good.key);
    const url = new URL(PG_URL);
    url.hostname = "localhost";
    url.port = String(front.port);
    frontUrl = url.toString();
  });

  afterAll(async () => {
    front?.server.close();
    await temp?.remove();
    await dropSchema(schema);
  });

  it("verifies the server against store.ssl.caFile (verify-full) and serves the pool over TLS", async () => {
    const before = front.sessions();
    const backend = createPostgresBackend({ url: frontUrl, schema, ssl: { mode: "verify-full", caFile: good.cert } });
    try {
      const doc = await backend.update((draft) => void (draft.secretRelease = "never"));
      expect(doc.rev).toBe(1);
      expect((await backend.read()).doc.secretRelease).toBe("never");
    } finally {
      await backend.close();
    }
    expect(front.sessions()).toBeGreaterThan(before);
  });

  it("takes sslmode and sslrootcert from the URL when store.ssl is absent", async () => {
    const before = front.sessions();
    const url = `${frontUrl}?sslmode=verify-full&sslrootcert=${encodeURIComponent(good.cert)}`;
    const backend = createPostgresBackend({ url, schema });
    try {
      expect((await backend.read()).rev).toBeGreaterThanOrEqual(1);
    } finally {
      await backend.close();
    }
    expect(front.sessions()).toBeGreaterThan(before);
  });

  it("refuses a server whose certificate another CA signed, with E_STORE_UNAVAILABLE naming TLS", async () => {
    const backend = createPostgresBackend({ url: frontUrl, schema, ssl: { mode: "verify-full", caFile: other.cert } });
    try {
      const error = await backend.read().then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(isPoolError(error, "E_STORE_UNAVAILABLE")).toBe(true);
      expect((error as Error).message).toMatch(/could not set up TLS/);
    } finally {
      await backend.close();
    }
  });

  it("encrypts without checking the certificate in require mode", async () => {
    const before = front.sessions();
    const backend = createPostgresBackend({ url: `${frontUrl}?sslmode=require`, schema });
    try {
      expect((await backend.read()).rev).toBeGreaterThanOrEqual(1);
    } finally {
      await backend.close();
    }
    expect(front.sessions()).toBeGreaterThan(before);
  });

  it("asks a plain-text server for TLS when sslmode=require, and fails clearly", async () => {
    const backend = createPostgresBackend({ url: `${PG_URL}?sslmode=require`, schema });
    try {
      const error = await backend.read().then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(isPoolError(error, "E_STORE_UNAVAILABLE")).toBe(true);
      expect((error as Error).message).toMatch(/does not support SSL/);
    } finally {
      await backend.close();
    }
  });
});

describe("TLS settings are validated", () => {
  it("refuses an unknown URL parameter and an unsupported sslmode by name", () => {
    expect(() => createPostgresBackend({ url: `${PG_URL}?sslmdoe=require` })).toThrow(/"sslmdoe"/);
    expect(() => createPostgresBackend({ url: `${PG_URL}?sslmode=prefer` })).toThrow(/prefer and allow/);
  });

  it("maps the modes to the driver as libpq means them", () => {
    const url = new URL(PG_URL);
    expect(resolveDriverSsl(undefined, url)).toBe(false);
    expect(resolveDriverSsl("disable", url)).toBe(false);
    expect(resolveDriverSsl("require", url)).toEqual({ rejectUnauthorized: false });
    expect(resolveDriverSsl(true, url)).toEqual({ rejectUnauthorized: true });
    const verifyCa = resolveDriverSsl({ mode: "verify-ca", ca: "PEM" }, url);
    expect(verifyCa).toMatchObject({ rejectUnauthorized: true, ca: "PEM" });
    expect(typeof (verifyCa as { checkServerIdentity?: unknown }).checkServerIdentity).toBe("function");
    expect(() => resolveDriverSsl({ mode: "verify-full", caFile: "/nonexistent/ca.pem" }, url)).toThrow(
      /store\.ssl\.caFile: cannot read \/nonexistent\/ca\.pem/,
    );
  });

  it("names an unknown key under store.ssl in config.json", async () => {
    const home = await createTempDir("credpool-tls-config-");
    try {
      await writeFile(
        home.file("config.json"),
        JSON.stringify({ store: { url: PG_URL, ssl: { mode: "verify-full", cafile: "/x" } } }),
      );
      await expect(loadCredpoolConfig({ home: home.path, env: {} })).rejects.toThrow(/cafile/);
    } finally {
      await home.remove();
    }
  });
});

// Gateway test fixtures: a temp pool with fake secrets, client tokens, a handler whose logs are captured, and
// the check every suite runs at the end: no fixture secret in any log line, no refresh token in any response.
import { request as httpRequest, type Agent, type IncomingHttpHeaders } from "node:http";
import { openPool, type AddCredentialInput, type Pool, type PoolOptions } from "@credpool/pool-core";
import {
  createGatewayHandler,
  createTokenStore,
  type GatewayHandler,
  type GatewayHandlerOptions,
  type GatewayResponse,
  type LeaseGrant,
  type TokenStore,
} from "@credpool/pool-gateway";
import { createGatewayLogger } from "../src/logger.js";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";
import { afterAll, afterEach, expect } from "vitest";

/** Distinctive fake secrets; none may ever appear in a log line, and refresh tokens in no response either. */
export const FIXTURE = {
  anthropicKey: "sk-ant-api03-FIXTUREanthropicKEY0123456789abcdefABCDEF",
  openrouterKey: "sk-or-v1-FIXTUREopenrouterKEY9876543210fedcbaZYXWV",
  cappedKey: "sk-FIXTUREcappedKEY5555555555555555abcdefgh",
  oauthAccess: "sk-ant-oat01-FIXTUREoauthACCESS-1111111111111111111111",
  oauthRefresh: "sk-ant-ort01-FIXTUREoauthREFRESH-2222222222222222222222",
  refreshOnlyRefresh: "sk-ant-ort01-FIXTUREonlyREFRESH-3333333333333333333333",
  addedKey: "sk-proj-FIXTUREaddedKEY-4444444444444444444444444444",
  addedRefresh: "FIXTUREaddedREFRESH-5555555555555555555555555555555",
  totpCode: "493817",
  badTotpCode: "271828",
  sessionToken: "sess_FIXTUREsession-6666666666666666666666666666",
} as const;

/** The secrets the redaction check looks for; bearer tokens created at run time are added as they are minted. */
const secretsSeen = new Set<string>(Object.values(FIXTURE));
const refreshTokens = new Set<string>([FIXTURE.oauthRefresh, FIXTURE.refreshOnlyRefresh, FIXTURE.addedRefresh]);
const capturedLogs: string[] = [];
const responsesSeen: string[] = [];

export function rememberSecret(secret: string, kind: "secret" | "refresh" = "secret"): void {
  secretsSeen.add(secret);
  if (kind === "refresh") refreshTokens.add(secret);
}

/** Every log line any handler in this test file wrote. */
export function allLogLines(): readonly string[] {
  return capturedLogs;
}

const PUBLIC_PREFIX = /^(sk-ant-(?:api|oat|ort)\d\d-|sk-or-v\d-|sk-proj-|sk-|sess_|cpg_[a-z0-9]+_)/;

/** Lines that contain a fixture secret or any 15-character stretch of it (masking shows at most 4 characters). */
export function findLeaks(lines: readonly string[], secrets: Iterable<string> = secretsSeen): string[] {
  const needles: string[] = [];
  for (const secret of secrets) {
    // Six-digit TOTP codes are matched whole: quoted, as a JSON value would hold them.
    if (/^\d{6}$/.test(secret)) {
      needles.push(`"${secret}"`);
      continue;
    }
    // Public prefixes (what masking shows, and a token's id) are not secret; every stretch after them is.
    const body = secret.replace(PUBLIC_PREFIX, "");
    needles.push(secret);
    for (let i = 0; i + 12 <= body.length; i += 4) needles.push(body.slice(i, i + 12));
  }
  return lines.filter((line) => needles.some((needle) => line.includes(needle)));
}

/**
 * Registers the end-of-file checks: logs captured across every test of the file hold no secret, and no response
 * ever carried a refresh token. Call once at the top of each gateway test file.
 */
export function checkLogsAndResponsesAfterAll(): void {
  afterAll(() => {
    expect(capturedLogs.length).toBeGreaterThan(0);
    expect(findLeaks(capturedLogs)).toEqual([]);
    const withRefresh = responsesSeen.filter((body) => [...refreshTokens].some((token) => body.includes(token)));
    expect(withRefresh).toEqual([]);
  });
}

/** A pino logger with the gateway's real redaction config, at trace level, writing into `capturedLogs`. */
export function createCapturingLogger() {
  return createGatewayLogger({
    level: "trace",
    destination: {
      write(line: string) {
        capturedLogs.push(line);
      },
    },
  });
}

export const CREDENTIALS: Record<string, AddCredentialInput> = {
  anthropic: { provider: "anthropic", label: "claude-key", secrets: { apiKey: FIXTURE.anthropicKey } },
  openrouter: { provider: "openrouter", label: "or-key", secrets: { apiKey: FIXTURE.openrouterKey } },
  capped: { provider: "capped", label: "capped-key", maxConcurrent: 2, secrets: { apiKey: FIXTURE.cappedKey } },
  oauth: {
    provider: "openai-codex",
    label: "codex-account",
    kind: "oauth",
    secrets: {
      accessToken: FIXTURE.oauthAccess,
      refreshToken: FIXTURE.oauthRefresh,
      expiresAt: Date.now() + 3_600_000,
    },
  },
  refreshOnly: {
    provider: "custom:idp",
    label: "needs-refresh",
    kind: "oauth",
    baseUrl: "http://127.0.0.1:9/v1",
    secrets: { refreshToken: FIXTURE.refreshOnlyRefresh },
  },
};

export interface GatewayFixture {
  readonly dir: TempDir;
  readonly pool: Pool;
  readonly tokens: TokenStore;
  readonly handler: GatewayHandler;
  readonly leaseToken: string;
  readonly otherLeaseToken: string;
  readonly adminToken: string;
  /** Calls the handler with a plain request object (no socket) and parses the JSON body as `T`. */
  call<T = JsonObject>(method: string, url: string, init?: CallInit): Promise<CallResult<T>>;
  close(): Promise<void>;
}

export interface CallInit {
  token?: string | null;
  body?: unknown;
  /** A raw body string, sent as is. */
  rawBody?: string;
  headers?: Record<string, string>;
  remoteAddress?: string;
}

export type JsonObject = Record<string, unknown>;

/** A lease answer as the API documents it: the client's own type. */
export type LeaseJson = LeaseGrant;

export interface ErrorJson {
  readonly error: { readonly code: string; readonly message: string; readonly retryAfterMs?: number };
}

export interface CallResult<T = JsonObject> {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly text: string;
  /** The parsed body, typed as the caller expects it (undefined when it is not JSON). */
  readonly json: T;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function recordResponse(text: string): void {
  responsesSeen.push(text);
}

export async function createGatewayFixture(
  options: Partial<GatewayHandlerOptions> = {},
  credentials: AddCredentialInput[] = Object.values(CREDENTIALS),
  poolOptions: Omit<PoolOptions, "file" | "backend"> = {},
): Promise<GatewayFixture> {
  const dir = await createTempDir("credpool-gateway-");
  const logger = createCapturingLogger();
  const pool = await openPool({
    ...poolOptions,
    file: { path: dir.file("pool.json") },
    onEvent: (event) => logger.info(event, event.event),
  });
  for (const credential of credentials) await pool.add(credential);
  const tokens = createTokenStore({ dir: dir.path });
  const lease = await tokens.create("worker", "lease");
  const other = await tokens.create("other-worker", "lease");
  const admin = await tokens.create("operator", "admin");
  for (const minted of [lease, other, admin]) rememberSecret(minted.token);
  await tokens.open();
  const handler = createGatewayHandler(pool, {
    verifyToken: (token) => tokens.verify(token),
    logger,
    ...options,
  });
  return {
    dir,
    pool,
    tokens,
    handler,
    leaseToken: lease.token,
    otherLeaseToken: other.token,
    adminToken: admin.token,
    async call<T>(method: string, url: string, init: CallInit = {}): Promise<CallResult<T>> {
      const headers: Record<string, string> = { ...init.headers };
      const token = init.token === undefined ? lease.token : init.token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      const body = init.rawBody ?? (init.body === undefined ? undefined : JSON.stringify(init.body));
      const response: GatewayResponse = await handler({
        method,
        url,
        headers,
        ...(body === undefined ? {} : { body }),
        remoteAddress: init.remoteAddress ?? "127.0.0.1",
      });
      recordResponse(response.body);
      return {
        status: response.status,
        headers: response.headers,
        text: response.body,
        json: parseJson(response.body) as T,
      };
    },
    async close() {
      await handler.close();
      await pool.close();
      await tokens.close();
      await dir.remove();
    },
  };
}

/** Creates a fixture per test and closes it afterwards. */
export function useGatewayFixture(
  options: Partial<GatewayHandlerOptions> = {},
  credentials?: AddCredentialInput[],
  poolOptions?: Omit<PoolOptions, "file" | "backend">,
): () => Promise<GatewayFixture> {
  const open: GatewayFixture[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((fixture) => fixture.close()));
  });
  return async () => {
    const fixture = await createGatewayFixture(options, credentials, poolOptions);
    open.push(fixture);
    return fixture;
  };
}

export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

/** A real HTTP request with full control over method, path bytes, headers and body (fetch normalises these). */
export function sendHttp(
  base: { host: string; port: number; agent?: Agent; localAddress?: string },
  init: { method: string; path: string; headers?: Record<string, string | string[]>; body?: string | Buffer },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: base.host,
        port: base.port,
        method: init.method,
        path: init.path,
        headers: init.headers ?? {},
        ...(base.agent ? { agent: base.agent } : {}),
        ...(base.localAddress ? { localAddress: base.localAddress } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          recordResponse(text);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (init.body !== undefined) req.write(init.body);
    req.end();
  });
}

/** Asserts the shape every gateway failure shares: JSON `{error: {code, message}}`. */
export function expectJsonError(result: { status: number; text: string }, code?: string): void {
  const parsed = parseJson(result.text) as { error?: { code?: unknown; message?: unknown } } | undefined;
  expect(parsed?.error, `body: ${result.text}`).toBeDefined();
  expect(typeof parsed?.error?.code).toBe("string");
  expect(typeof parsed?.error?.message).toBe("string");
  if (code !== undefined) expect(parsed?.error?.code, result.text).toBe(code);
}

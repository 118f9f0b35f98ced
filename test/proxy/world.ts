// A proxy world: a temp pool, a proxy token, the fake upstream in this process, and a real gateway process whose
// config.json points the providers at the fake.
import { writeFile } from "node:fs/promises";
import {
  createFileBackend,
  openPool,
  openUsageBackend,
  usagePathFor,
  type AddCredentialInput,
  type Credential,
  type Strategy,
  type UsageBucket,
} from "@credpool/pool-core";
import { createTokenStore, type TokenScope } from "@credpool/pool-gateway";
import {
  createTempDir,
  startFakeUpstream,
  type FakeUpstream,
  type FakeUpstreamOptions,
  type TempDir,
} from "@credpool/pool-testkit";
import { isRunning, startGatewayProcess, type GatewayProcess } from "../gateway/gateway-process.js";

export interface ProxyWorld {
  readonly dir: TempDir;
  readonly poolPath: string;
  readonly upstream: FakeUpstream;
  readonly gateway: GatewayProcess;
  /** A token with scope proxy. */
  readonly token: string;
  createToken(name: string, scope: TokenScope): Promise<string>;
  /** The credential as the pool file holds it now. */
  credential(label: string): Promise<Credential>;
  stop(): Promise<void>;
}

export interface ProxyWorldOptions {
  credentials: AddCredentialInput[];
  /**
   * The `proxy` section of config.json; upstreams default to the fake for anthropic, openai, openai-codex (under
   * /backend-api/codex, as the real Codex backend) and openrouter.
   */
  proxy?: Record<string, unknown>;
  /** Selection strategy per provider, set before the gateway starts (the pool's default is fill_first). */
  strategies?: Record<string, Strategy>;
  env?: NodeJS.ProcessEnv;
  upstreamText?: string;
  /** More options for the fake upstream (token counts, ...). */
  upstream?: FakeUpstreamOptions;
  /** More sections of config.json besides `proxy` (e.g. `prices`). */
  config?: Record<string, unknown>;
}

export interface UsageTotals {
  requests: number;
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
}

/** The buckets usage.json beside `poolPath` holds now (none before the gateway's first flush). */
export async function readUsageBuckets(poolPath: string): Promise<UsageBucket[]> {
  const backend = openUsageBackend(usagePathFor(poolPath));
  try {
    return (await backend.read()).doc.buckets;
  } finally {
    await backend.close();
  }
}

/** Sums the buckets that match every field of `filter`. */
export function sumUsage(
  buckets: readonly UsageBucket[],
  filter: Partial<Pick<UsageBucket, "provider" | "credentialLabel" | "model" | "client">> = {},
): UsageTotals {
  const totals: UsageTotals = { requests: 0, input: 0, output: 0, cacheRead: 0, cacheWrite: 0 };
  for (const bucket of buckets) {
    if (Object.entries(filter).some(([key, value]) => bucket[key as keyof typeof filter] !== value)) continue;
    totals.requests += bucket.requests;
    totals.input += bucket.input;
    totals.output += bucket.output;
    totals.cacheRead += bucket.cacheRead;
    totals.cacheWrite += bucket.cacheWrite;
  }
  return totals;
}

/** Polls usage.json until the matching buckets count `requests` requests (the gateway flushes within a second). */
export async function waitForUsage(
  poolPath: string,
  filter: Parameters<typeof sumUsage>[1],
  requests: number,
): Promise<UsageTotals> {
  const guardUntil = Date.now() + 15_000;
  for (;;) {
    const totals = sumUsage(await readUsageBuckets(poolPath), filter);
    if (totals.requests >= requests || Date.now() > guardUntil) return totals;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function startProxyWorld(options: ProxyWorldOptions): Promise<ProxyWorld> {
  const dir = await createTempDir("credpool-proxy-");
  const poolPath = dir.file("pool.json");
  const upstream = await startFakeUpstream({
    ...(options.upstreamText ? { text: options.upstreamText } : {}),
    ...options.upstream,
  });
  const seed = await openPool({ file: { path: poolPath } });
  for (const credential of options.credentials) await seed.add(credential);
  for (const [provider, strategy] of Object.entries(options.strategies ?? {}))
    await seed.setStrategy(provider, strategy);
  await seed.close();
  const proxy = {
    upstreams: {
      anthropic: upstream.url,
      openai: `${upstream.url}/v1`,
      "openai-codex": `${upstream.url}/backend-api/codex`,
      openrouter: upstream.url,
    },
    ...(options.proxy ?? {}),
  };
  await writeFile(dir.file("config.json"), JSON.stringify({ ...options.config, proxy }));
  const tokens = createTokenStore({ dir: dir.path });
  const { token } = await tokens.create("agent", "proxy");
  await tokens.close();
  let gateway: GatewayProcess;
  try {
    gateway = await startGatewayProcess(poolPath, { CREDPOOL_LOG_LEVEL: "info", ...options.env });
  } catch (error) {
    await upstream.close();
    await dir.remove();
    throw error;
  }
  return {
    dir,
    poolPath,
    upstream,
    gateway,
    token,
    async createToken(name, scope) {
      const store = createTokenStore({ dir: dir.path });
      try {
        return (await store.create(name, scope)).token;
      } finally {
        await store.close();
      }
    },
    async credential(label) {
      const backend = createFileBackend({ path: poolPath });
      try {
        const { doc } = await backend.read();
        const found = Object.values(doc.providers)
          .flatMap((provider) => provider.credentials)
          .find((candidate) => candidate.label === label);
        if (!found) throw new Error(`no credential ${label}`);
        return found;
      } finally {
        await backend.close();
      }
    },
    async stop() {
      if (isRunning(gateway.child)) gateway.child.kill("SIGKILL");
      await upstream.close();
      await dir.remove();
    },
  };
}

/** POST /anthropic/v1/messages with `token`; `body` adds to a minimal request (it names no model unless given one). */
export function askAnthropic(
  world: ProxyWorld,
  token: string,
  body: Record<string, unknown> = {},
  signal?: AbortSignal,
): Promise<Response> {
  return fetch(`${world.gateway.url}/anthropic/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": token, "anthropic-version": "2023-06-01", "content-type": "application/json" },
    body: JSON.stringify({ max_tokens: 64, messages: [{ role: "user", content: "hi" }], ...body }),
    ...(signal ? { signal } : {}),
  });
}

/** POST /openai/v1/chat/completions with `token`; `body` adds to a minimal request. */
export function askOpenAi(
  world: ProxyWorld,
  token: string,
  body: Record<string, unknown> = {},
  signal?: AbortSignal,
): Promise<Response> {
  return fetch(`${world.gateway.url}/openai/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: "hi" }], ...body }),
    ...(signal ? { signal } : {}),
  });
}

/** POST /v1/leases for `provider` with `token`. */
export function askLease(world: ProxyWorld, token: string, provider = "anthropic"): Promise<Response> {
  return fetch(`${world.gateway.url}/v1/leases`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ provider }),
  });
}

/**
 * Seconds from now until the credential can serve `model` again (0 when it can now): its own bench, or the
 * per-model one a 429 naming a model sets.
 */
export function benchedForSeconds(credential: Credential, model?: string): number {
  const windows = [credential.status, ...(credential.modelCooldowns ?? []).filter((status) => status.model === model)];
  const until = Math.max(0, ...windows.map((status) => (status.state === "exhausted" ? (status.until ?? 0) : 0)));
  return Math.max(0, Math.round((until - Date.now()) / 1000));
}

/** Reads a whole fetch body as text, or reports how it broke off. */
export async function readAll(response: Response): Promise<{ text: string; error?: string }> {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { text };
      text += decoder.decode(value, { stream: true });
    }
  } catch (error) {
    return { text, error: (error as Error).message };
  }
}

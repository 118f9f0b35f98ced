// Shared setup for the multi-process refresh suites: a temp home, a fake token server, a pool, and child processes
// whose environment points every token endpoint and source path into that temp world.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createFileBackend, findCredential, type Credential, type FileBackend } from "@credpool/pool-core";
import {
  createTempDir,
  spawnChild,
  startFakeTokenServer,
  type ChildHandle,
  type FakeTokenServer,
  type FakeTokenServerOptions,
  type TempDir,
} from "@credpool/pool-testkit";

export const leaserScript = fileURLToPath(new URL("../children/refresh-leaser.mjs", import.meta.url));
export const syncScript = fileURLToPath(new URL("../children/source-sync.mjs", import.meta.url));

export interface LeaseMessage {
  leased: boolean;
  token?: string;
  credentialId?: string;
  code?: string;
  message?: string;
  at: number;
}

export interface RefreshWorld {
  readonly dir: TempDir;
  readonly server: FakeTokenServer;
  readonly poolPath: string;
  /** $CLAUDE_CONFIG_DIR/.credentials.json and $CODEX_HOME/auth.json of the children. */
  readonly claudePath: string;
  readonly codexPath: string;
  readonly backend: FileBackend;
  /** The children's environment: token endpoints on the fake server, sources inside the temp dir, no API keys. */
  env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  spawnLeaser(args?: string[], env?: NodeJS.ProcessEnv): ChildHandle;
  credential(id: string): Promise<Credential>;
  close(): Promise<void>;
}

export async function createWorld(serverOptions: FakeTokenServerOptions = {}): Promise<RefreshWorld> {
  const dir = await createTempDir("credpool-refresh-");
  const server = await startFakeTokenServer(serverOptions);
  const claudeDir = join(dir.path, "home", ".claude");
  const codexDir = join(dir.path, "home", ".codex");
  await mkdir(claudeDir, { recursive: true });
  await mkdir(codexDir, { recursive: true });
  const poolPath = dir.file("pool.json");
  const backend = createFileBackend({ path: poolPath });
  const children: ChildHandle[] = [];

  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    HOME: join(dir.path, "home"),
    CREDPOOL_HOME: dir.path,
    CLAUDE_CONFIG_DIR: claudeDir,
    CODEX_HOME: codexDir,
    CREDPOOL_ANTHROPIC_TOKEN_URL: server.tokenUrl,
    CREDPOOL_OPENAI_TOKEN_URL: server.tokenUrl,
    ANTHROPIC_API_KEY: "",
    OPENAI_API_KEY: "",
    OPENROUTER_API_KEY: "",
    CREDPOOL_ENV_SOURCES: "",
    ...extra,
  });

  return {
    dir,
    server,
    poolPath,
    claudePath: join(claudeDir, ".credentials.json"),
    codexPath: join(codexDir, "auth.json"),
    backend,
    env,
    spawnLeaser(args = [], extra = {}) {
      const child = spawnChild(leaserScript, ["--pool", poolPath, ...args], { env: env(extra) });
      children.push(child);
      return child;
    },
    async credential(id) {
      const found = findCredential((await backend.read()).doc, id);
      if (!found) throw new Error(`credential ${id} is gone`);
      return found;
    },
    async close() {
      for (const child of children) child.kill("SIGKILL");
      await Promise.all(children.map((child) => child.exited));
      await backend.close();
      await server.close();
      await dir.remove();
    },
  };
}

/** Writes one OAuth credential straight into the pool, as an import or `credpool add` would have. */
export async function seedCredential(
  backend: FileBackend,
  fields: Partial<Credential> & Pick<Credential, "secrets">,
): Promise<Credential> {
  const credential: Credential = {
    id: "cred1",
    label: "work",
    provider: "anthropic",
    kind: "oauth",
    priority: 0,
    source: "manual",
    tokenGeneration: 0,
    status: { state: "ok" },
    usage: { requests: 0, failures: 0 },
    ...fields,
  };
  await backend.update((doc) => {
    const pool = (doc.providers[credential.provider] ??= { credentials: [] });
    pool.credentials.push(credential);
  });
  return credential;
}

export function waitForLease(child: ChildHandle, timeoutMs = 45_000): Promise<LeaseMessage> {
  return child.waitFor<LeaseMessage>((message) => typeof message.leased === "boolean", timeoutMs);
}

/** The next lease outcome the child prints after this call (serve mode leases many times). */
export function nextLease(child: ChildHandle, timeoutMs = 45_000): Promise<LeaseMessage> {
  const earlier = new Set(child.messages);
  return child.waitFor<LeaseMessage>(
    (message) => typeof message.leased === "boolean" && !earlier.has(message),
    timeoutMs,
  );
}

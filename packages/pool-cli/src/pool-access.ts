// How commands reach the pool: `--pool` or CREDPOOL_HOME or the default, the lock timeout from the environment,
// and "no pool yet" as an error that says to run `credpool init` (only init creates one).
import { dirname } from "node:path";
import {
  PoolError,
  createFileBackend,
  createLinkedRefresher,
  openPool,
  resolvePoolOption,
  resolveStoreChoice,
  type DocumentStore,
  type FileBackendOptions,
  type Pool,
  type PoolBackend,
  type PoolDocument,
  type PoolOptions,
  type StoreChoice,
} from "@credpool/pool-core";
import type * as PostgresPackage from "@credpool/pool-postgres";
import type { CommandContext } from "./command.js";
import { loadCliConfig } from "./config.js";

type PoolContext = Pick<CommandContext, "env" | "poolPath" | "stderr" | "allowSymlink" | "storeUrl">;

/** `--pool`, or CREDPOOL_HOME, or the default; the resolver is core's, so the gateway's `--pool` accepts the same. */
export function resolveCliPoolPath(context: PoolContext): Promise<string> {
  return resolvePoolOption(context.poolPath, context.env);
}

/** CREDPOOL_LOCK_TIMEOUT_MS: how long a command waits for another process's lock before failing. */
export function lockTimeoutFrom(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.CREDPOOL_LOCK_TIMEOUT_MS;
  if (raw === undefined || raw === "") return undefined;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < 1 || value > 600_000) {
    throw new PoolError(
      "E_USAGE",
      `CREDPOOL_LOCK_TIMEOUT_MS must be a whole number of milliseconds from 1 to 600000, got "${raw}".`,
    );
  }
  return value;
}

export async function fileOptionsFor(
  context: PoolContext,
  options: { createIfMissing?: boolean } = {},
): Promise<FileBackendOptions & { path: string }> {
  const lockTimeoutMs = lockTimeoutFrom(context.env);
  return {
    path: await resolveCliPoolPath(context),
    createIfMissing: options.createIfMissing ?? false,
    allowSymlink: context.allowSymlink === true,
    ...(lockTimeoutMs === undefined ? {} : { lockTimeoutMs }),
  };
}

/**
 * `--store`, CREDPOOL_STORE or config.json's `store` section; the file store when none says otherwise. The section's
 * schema, password file, TLS and lock TTL apply whichever of them gives the URL, as in the gateway and `store copy`:
 * a CLI that dropped them would read another schema than the gateway it shares the database with.
 */
export async function storeChoiceFor(context: PoolContext): Promise<StoreChoice> {
  const home = dirname(await resolveCliPoolPath(context));
  const { config } = await loadCliConfig(context, home);
  return resolveStoreChoice({ flag: context.storeUrl, env: context.env, config: config.store });
}

type PostgresModule = typeof PostgresPackage;

async function loadPostgres(choice: Extract<StoreChoice, { kind: "postgres" }>): Promise<PostgresModule> {
  try {
    return await import("@credpool/pool-postgres");
  } catch (error) {
    throw new PoolError(
      "E_USAGE",
      `${choice.from} selects PostgreSQL, but @credpool/pool-postgres is not installed: install it next to credpool.`,
      { cause: error },
    );
  }
}

function postgresOptionsFor(choice: Extract<StoreChoice, { kind: "postgres" }>, env: NodeJS.ProcessEnv) {
  const lockTimeoutMs = lockTimeoutFrom(env);
  return {
    url: choice.url,
    schema: choice.schema,
    ...(choice.passwordFile === undefined ? {} : { passwordFile: choice.passwordFile }),
    ...(choice.lockTtlMs === undefined ? {} : { lockTtlMs: choice.lockTtlMs }),
    ...(choice.ssl === undefined ? {} : { ssl: choice.ssl }),
    ...(lockTimeoutMs === undefined ? {} : { lockTimeoutMs }),
  };
}

/** The PostgreSQL pool backend, loaded only when chosen, so file-store users never load a database driver. */
export async function openPostgresPoolBackend(
  choice: Extract<StoreChoice, { kind: "postgres" }>,
  env: NodeJS.ProcessEnv,
): Promise<PoolBackend> {
  return (await loadPostgres(choice)).createPostgresBackend(postgresOptionsFor(choice, env));
}

/**
 * With a PostgreSQL store, the store that also keeps the TOTP state, the gateway's client tokens and the usage
 * counts, so every host shares them; undefined with the file store (they stay files beside pool.json).
 */
export async function documentStoreFor(context: PoolContext): Promise<DocumentStore | undefined> {
  const choice = await storeChoiceFor(context);
  if (choice.kind !== "postgres") return undefined;
  return (await loadPostgres(choice)).createPostgresDocumentStore(postgresOptionsFor(choice, context.env));
}

/** openPool on a backend we opened: closing the pool closes the backend too. */
async function openOwnedPool(backend: PoolBackend, options: Omit<PoolOptions, "file" | "backend">): Promise<Pool> {
  let pool: Pool;
  try {
    pool = await openPool({ ...options, backend });
  } catch (error) {
    await backend.close().catch(() => undefined);
    throw error;
  }
  // Bound before it is replaced below, so the wrapper calls the pool's own close().
  const closePool = pool.close.bind(pool);
  return Object.assign(pool, {
    close: async () => {
      try {
        await closePool();
      } finally {
        await backend.close();
      }
    },
  });
}

/** A watched pool for commands that change it or lease from it. Missing pool: E_POOL_NOT_FOUND with the init hint. */
export async function openCliPool(
  context: PoolContext,
  options: { createIfMissing?: boolean; pool?: Omit<PoolOptions, "file" | "backend"> } = {},
): Promise<Pool> {
  const choice = await storeChoiceFor(context);
  if (choice.kind === "postgres")
    return openOwnedPool(await openPostgresPoolBackend(choice, context.env), options.pool ?? {});
  return openPool({ ...options.pool, file: await fileOptionsFor(context, options) });
}

/**
 * A pool whose leases hand out usable tokens: an OAuth credential that is due is refreshed first, through core's
 * single-flight refresher (the same one `credpool refresh` uses), with the pool directory's config.json settings.
 */
export async function openLeasingPool(context: PoolContext): Promise<Pool> {
  const file = await fileOptionsFor(context);
  const { config } = await loadCliConfig(context, dirname(file.path));
  const refresher = createLinkedRefresher({ ...config.refresh, env: context.env });
  const choice = await storeChoiceFor(context);
  if (choice.kind === "postgres") {
    return openOwnedPool(await openPostgresPoolBackend(choice, context.env), { refresher: refresher.ensureFresh });
  }
  return openPool({ file, refresher: refresher.ensureFresh });
}

/** Runs `fn` with an open pool and always closes it, keeping `fn`'s error over a failure to close. */
export async function withPool<T>(
  context: PoolContext,
  fn: (pool: Pool) => Promise<T>,
  options: { pool?: Omit<PoolOptions, "file" | "backend">; open?: (context: PoolContext) => Promise<Pool> } = {},
): Promise<T> {
  const pool = options.open ? await options.open(context) : await openCliPool(context, options);
  let result: T;
  try {
    result = await fn(pool);
  } catch (error) {
    await pool.close().catch(() => undefined);
    throw error;
  }
  await pool.close();
  return result;
}

/** One read with no watcher and no lock: all `list` and `show` need, and the fastest way to start. */
export async function readCliPool(context: PoolContext): Promise<{ doc: PoolDocument; path: string }> {
  const choice = await storeChoiceFor(context);
  const file = choice.kind === "file" ? await fileOptionsFor(context) : undefined;
  const backend = file ? createFileBackend(file) : await openPostgresPoolBackend(choice as never, context.env);
  try {
    const { doc } = await backend.read();
    return { doc, path: file ? file.path : backend.location };
  } finally {
    await backend.close();
  }
}

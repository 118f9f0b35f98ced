// Which store holds the documents: `--store URL`, then CREDPOOL_STORE, then config.json's `store` section, else the
// file store. Core only decides; the CLI and the gateway load @credpool/pool-postgres when the answer is postgres.
import { PoolError } from "../errors.js";
import type { StoreConfig, StoreSslConfig } from "./config-schema.js";

export type StoreChoice =
  | { readonly kind: "file" }
  | {
      readonly kind: "postgres";
      readonly url: string;
      readonly schema: string;
      readonly passwordFile?: string;
      readonly lockTtlMs?: number;
      /** config.json `store.ssl`; the URL's sslmode and friends apply when it is absent. */
      readonly ssl?: StoreSslConfig;
      /** Where the choice came from, for messages: "--store", "CREDPOOL_STORE" or "config.json store.url". */
      readonly from: string;
    };

const POSTGRES_URL = /^postgres(ql)?:\/\//;

function hasPassword(url: string): boolean {
  try {
    return new URL(url).password !== "";
  } catch {
    return false;
  }
}

function checkUrl(url: string, from: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new PoolError("E_USAGE", `${from} is not a valid URL; use postgres://user@host:5432/database.`);
  }
  if (parsed.hostname === "") throw new PoolError("E_USAGE", `${from} names no host; use postgres://user@host/db.`);
}

export function resolveStoreChoice(options: {
  flag?: string | undefined;
  env: NodeJS.ProcessEnv;
  config?: StoreConfig | undefined;
}): StoreChoice {
  const { flag, env, config } = options;
  let url: string | undefined;
  let from = "";
  if (flag !== undefined) {
    if (flag === "file") return { kind: "file" };
    if (!POSTGRES_URL.test(flag)) {
      throw new PoolError("E_USAGE", `--store takes "file" or a postgres:// URL.`);
    }
    // argv is visible to every user on the host (ps), so the existing rule for secrets on argv applies.
    if (hasPassword(flag)) {
      throw new PoolError(
        "E_USAGE",
        "--store must not carry a password: argv is visible to other users. Use PGPASSWORD, ~/.pgpass, or store.passwordFile in config.json.",
      );
    }
    url = flag;
    from = "--store";
  } else if (env.CREDPOOL_STORE !== undefined && env.CREDPOOL_STORE !== "") {
    const value = env.CREDPOOL_STORE;
    if (value === "file") return { kind: "file" };
    if (!POSTGRES_URL.test(value)) {
      throw new PoolError("E_USAGE", `CREDPOOL_STORE takes "file" or a postgres:// URL.`);
    }
    url = value;
    from = "CREDPOOL_STORE";
  } else if (config?.url !== undefined && config.kind !== "file") {
    url = config.url;
    from = "config.json store.url";
  } else if (config?.kind === "postgres") {
    throw new PoolError("E_USAGE", "config.json sets store.kind to postgres but gives no store.url.");
  }
  if (url === undefined) return { kind: "file" };
  checkUrl(url, from);
  const schema = env.CREDPOOL_STORE_SCHEMA || config?.schema || "credpool";
  return {
    kind: "postgres",
    url,
    schema,
    from,
    ...(config?.passwordFile === undefined ? {} : { passwordFile: config.passwordFile }),
    ...(config?.lockTtlMs === undefined ? {} : { lockTtlMs: config.lockTtlMs }),
    ...(config?.ssl === undefined ? {} : { ssl: config.ssl }),
  };
}

#!/usr/bin/env node
// `pnpm start` / `credpool-gateway`: the gateway on the embedded file pool, or on PostgreSQL with --store.
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import {
  AUDIT_LOG_FILE_NAME,
  PoolError,
  createAuditFileSink,
  createUsageRecorder,
  createLinkedRefresher,
  createTotpGate,
  isPoolError,
  loadCredpoolConfig,
  openPool,
  readPoolGate,
  resolveLoginProfile,
  resolvePoolOption,
  resolveStoreChoice,
  tightenTotpConfig,
  usageLocation,
  usagePathFor,
  watchLinkedSources,
  type DocumentStore,
  type PoolBackend,
  type PoolEvent,
} from "@credpool/pool-core";
import { createAdminGate } from "./admin-gate.js";
import { createGatewayHandler } from "./handler.js";
import { createGatewayLogger } from "./logger.js";
import { createGatewayMetrics } from "./metrics.js";
import { createGatewayProxy, parseProxyConfig } from "./proxy/index.js";
import { DEFAULT_MAX_CONNECTIONS, startGatewayServer } from "./server.js";
import { createStatusFeed } from "./status/feed.js";
import { createStatusPageRoutes } from "./status/page-routes.js";
import { createTokenStore } from "./tokens.js";

const USAGE = `Usage: credpool-gateway [options]

  --pool PATH              pool file, or its directory (default: $CREDPOOL_HOME/pool.json)
  --store URL              postgres://user@host/db: serve the pool kept in PostgreSQL (env CREDPOOL_STORE;
                           password from PGPASSWORD or ~/.pgpass, never argv)
  --allow-symlink          accept a pool file that is a symlink (writes go into its target)
  --host HOST              listen address (default 127.0.0.1; env CREDPOOL_GATEWAY_HOST)
  --port N                 listen port (default 7878; env CREDPOOL_GATEWAY_PORT)
  --socket PATH            listen on a unix socket (mode 0600) instead of TCP
  --allow-remote           allow a non-loopback --host; requires --tls-cert and --tls-key
  --tls-cert FILE, --tls-key FILE
  --max-connections N      open connections at most (default 512); at the cap the oldest idle one is closed
  --metrics-public         serve /metrics without a bearer token
  --require-totp-to-serve  serve no leases until an admin opens a TOTP session
`;

function parseOptions(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      pool: { type: "string" },
      store: { type: "string" },
      "allow-symlink": { type: "boolean" },
      host: { type: "string" },
      port: { type: "string" },
      socket: { type: "string" },
      "allow-remote": { type: "boolean" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "max-connections": { type: "string" },
      "metrics-public": { type: "boolean" },
      "require-totp-to-serve": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
}

async function runGateway(argv: string[]): Promise<void> {
  let values: ReturnType<typeof parseOptions>["values"];
  try {
    ({ values } = parseOptions(argv));
  } catch (error) {
    throw new PoolError("E_USAGE", `${(error as Error).message}. Run \`credpool-gateway --help\` for the options.`);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const port = Number(values.port ?? process.env.CREDPOOL_GATEWAY_PORT ?? 7878);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new PoolError(
      "E_USAGE",
      `--port must be an integer from 0 to 65535, got "${values.port ?? process.env.CREDPOOL_GATEWAY_PORT}"`,
    );
  }
  const maxConnections = Number(values["max-connections"] ?? DEFAULT_MAX_CONNECTIONS);
  if (!Number.isInteger(maxConnections) || maxConnections < 1) {
    throw new PoolError("E_USAGE", `--max-connections must be a positive integer, got "${values["max-connections"]}"`);
  }
  // The CLI's resolver: a directory means the pool.json inside it.
  const poolPath = await resolvePoolOption(values.pool);
  const logger = createGatewayLogger();
  const metrics = createGatewayMetrics();
  const home = dirname(poolPath);
  // Settings are validated before serving, so a bad knob stops start-up with a message naming it.
  const { config, warnings } = await loadCredpoolConfig({ home });
  for (const warning of warnings)
    logger.warn({ event: "config.warning", key: warning.key, file: warning.file }, warning.message);
  // Set once the pool is open: events this process sees that the document does not record, for the status page.
  const status: {
    note?: (event: { kind: string; provider?: string; credential?: string; detail?: string }) => void;
  } = {};
  const onEvent = (event: PoolEvent): void => {
    if (event.event === "refresh.failed") {
      const fields = event as PoolEvent & { provider?: unknown; credentialId?: unknown; reason?: unknown };
      status.note?.({
        kind: "refresh_failed",
        provider: typeof fields.provider === "string" ? fields.provider : undefined,
        credential: typeof fields.credentialId === "string" ? fields.credentialId : undefined,
        detail: typeof fields.reason === "string" ? fields.reason : undefined,
      });
    }
    if (event.event.startsWith("refresh.") && event.event !== "refresh.started") {
      metrics.refreshes.inc({ result: event.event.slice("refresh.".length) });
    }
    logger.info(event, event.event);
  };
  // Leases of OAuth credentials that are due refresh first, single-flight across every process on this pool.
  const refresher = createLinkedRefresher({ ...config.refresh, onEvent });
  const store = resolveStoreChoice({ flag: values.store, env: process.env, config: config.store });
  // A PostgreSQL store is loaded only when chosen. It then keeps every document: the pool, the client tokens, the
  // TOTP state with the pool's gate record, and the usage counts, so gateways on several hosts share them all.
  let storeBackend: PoolBackend | undefined;
  let documents: DocumentStore | undefined;
  if (store.kind === "postgres") {
    const { createPostgresBackend, createPostgresDocumentStore } = await import("@credpool/pool-postgres").catch(
      (error: unknown) => {
        throw new PoolError(
          "E_USAGE",
          `${store.from} selects PostgreSQL, but @credpool/pool-postgres is not installed: install it next to credpool.`,
          { cause: error },
        );
      },
    );
    const storeOptions = {
      url: store.url,
      schema: store.schema,
      ...(store.passwordFile === undefined ? {} : { passwordFile: store.passwordFile }),
      ...(store.lockTtlMs === undefined ? {} : { lockTtlMs: store.lockTtlMs }),
      ...(store.ssl === undefined ? {} : { ssl: store.ssl }),
    };
    storeBackend = createPostgresBackend(storeOptions);
    documents = createPostgresDocumentStore(storeOptions);
  }
  const pool = await openPool({
    ...(storeBackend
      ? { backend: storeBackend }
      : {
          file: {
            path: poolPath,
            createIfMissing: true,
            allowSymlink: values["allow-symlink"] === true,
            hooks: { onWrite: (info) => metrics.observeWrite(info) },
          },
        }),
    refresher: refresher.ensureFresh,
    onEvent,
  });
  const poolWhere = storeBackend ? storeBackend.location : poolPath;
  // Create the pool on first start so a fresh machine has something to serve.
  await pool.update(() => undefined);
  // A refresh or re-login in Claude Code or Codex reaches the next lease. See test/gateway/sources-follow.test.ts.
  const sources = watchLinkedSources(pool.backend, {
    onEvent: (event) => logger.warn(event, event.event),
    onSync: (result) => {
      for (const error of result.errors)
        logger.warn({ event: "sources.unreadable", error: error.message }, "sources.unreadable");
      if (!result.committed) {
        logger.debug({ event: "sources.unchanged", rev: result.rev }, "sources.unchanged");
        return;
      }
      const changes = result.changes
        .filter((change) => change.action === "updated")
        .map((change) => ({ credentialId: change.credentialId, reason: change.reason }));
      logger.info({ event: "sources.synced", rev: result.rev, changes }, "sources.synced");
    },
    onError: (error) =>
      logger.warn({ event: "sources.sync_failed", error: (error as Error).message }, "sources.sync_failed"),
  });
  await sources.ready.catch(() => undefined);
  const tokens = createTokenStore({ dir: home, documents });
  await tokens.open();
  // The gate the pool records (its protected directory), as the CLI finds it, and TOTP settings that the
  // environment may only tighten: a gateway started with looser CREDPOOL_TOTP_* gets config.json's values.
  // See test/gateway/totp-env.test.ts.
  const poolGate = await readPoolGate(poolPath, documents);
  // With a shared store the record names the directory of the host that set TOTP up: this host uses its own.
  const gateHome = documents ? home : (poolGate?.home ?? home);
  const [totpFromFile, totpWithEnv] = await Promise.all([
    loadCredpoolConfig({ home: gateHome, env: {} }),
    gateHome === home ? { config } : loadCredpoolConfig({ home: gateHome }),
  ]);
  const { config: totpConfig, ignored } = tightenTotpConfig(
    totpFromFile.config.totp,
    totpWithEnv.config.totp,
    process.env,
  );
  for (const override of ignored)
    logger.warn({ event: "config.ignored", env: override.env, field: override.field }, override.message);
  // TOTP audit events go to the gateway's log and to audit.log in the gate's directory, which every credpool process shares.
  const auditFile = createAuditFileSink(join(gateHome, AUDIT_LOG_FILE_NAME), (error) =>
    logger.warn({ event: "audit.write_failed", error: (error as Error).message }, "audit.write_failed"),
  );
  const totp = createTotpGate({
    home: gateHome,
    poolPath,
    poolGate,
    ...(documents === undefined ? {} : { documents }),
    config: totpConfig,
    audit: (event) => {
      if (event.type.startsWith("totp.verify.") && event.type !== "totp.verify.ok") {
        status.note?.({ kind: "totp_failure", detail: event.type.slice("totp.verify.".length) });
      }
      if (event.type === "totp.lockout.start") status.note?.({ kind: "totp_failure", detail: "lockout" });
      logger.info({ ...event, event: event.type }, event.type);
      auditFile.sink(event);
    },
  });
  const handler = createGatewayHandler(pool, {
    // A token created a moment ago is found by one re-read of the file, before the watcher delivers it.
    verifyToken: (token) => tokens.verify(token) ?? tokens.verifyFresh(token),
    // POST /v1/tokens: delegate tokens mint children for the agents they start.
    tokens,
    gate: createAdminGate(totp),
    loginProfile: (provider) =>
      resolveLoginProfile(provider, {
        login: config.login,
        refreshProviders: config.refresh?.providers,
        env: process.env,
      }),
    logger,
    metrics,
    metricsPublic: values["metrics-public"] === true,
    requireTotpToServe: values["require-totp-to-serve"] === true || totpConfig.requireTotpToServe,
  });
  // Token usage of proxied requests, in usage.json beside the pool (or the shared store), written at most once a second.
  const usage = createUsageRecorder({
    path: usageLocation(poolPath, documents),
    documents,
    onFlushError: (error) =>
      logger.warn({ event: "usage.flush_failed", error: (error as Error).message }, "usage flush failed"),
  });
  // Provider routes (/anthropic, /openai, ...) with the `proxy` section of config.json; see README "Proxy".
  const proxy = createGatewayProxy({
    metrics,
    usage,
    pool,
    verifyToken: (token) => tokens.verify(token) ?? tokens.verifyFresh(token),
    refresher,
    logger,
    // One failed-authentication budget for the lease API and the proxy routes together.
    authThrottle: handler.authThrottle,
    config: parseProxyConfig((config as { proxy?: unknown }).proxy, "proxy section of config.json"),
    locked: () =>
      handler.services.requireAdminSession && !handler.services.state.adminAuthenticated
        ? "This gateway serves no credentials until an admin authenticates (requireTotpToServe)."
        : undefined,
  });
  // The status page (GET /) and its live feed (GET /v1/events), fed by the pool's store watcher.
  const feed = createStatusFeed({ pool, usagePath: usagePathFor(poolPath), documents });
  status.note = (event) => feed.note(event);
  const statusPage = createStatusPageRoutes({
    feed,
    verifyToken: (token) => tokens.verify(token) ?? tokens.verifyFresh(token),
    authThrottle: handler.authThrottle,
    gate: handler.services.gate,
  });
  const tls =
    values["tls-cert"] && values["tls-key"]
      ? { cert: await readFile(values["tls-cert"]), key: await readFile(values["tls-key"]) }
      : undefined;
  const gateway = await startGatewayServer({
    handler,
    host: values.host ?? process.env.CREDPOOL_GATEWAY_HOST ?? "127.0.0.1",
    port,
    ...(values.socket ? { socketPath: values.socket } : {}),
    allowRemote: values["allow-remote"] === true,
    maxConnections,
    ...(tls ? { tls } : {}),
    proxy,
    statusPage,
  });
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // A second Ctrl-C means "now": leases still held lapse by their TTL.
      process.stderr.write(`credpool gateway: ${signal} again, exiting without finishing shutdown\n`);
      process.exit(1);
    }
    stopping = true;
    logger.info({ event: "gateway.stopping", signal }, "stopping");
    // Order matters: stop accepting and drain, then flush usage, then release what we hold.
    void (async () => {
      // Open event streams would keep close() waiting forever.
      statusPage.close();
      feed.close();
      await gateway.close();
      await proxy.close();
      await usage
        .close()
        .catch((error: unknown) =>
          logger.warn({ event: "usage.flush_failed", error: (error as Error).message }, "usage flush failed"),
        );
      await handler.close();
      await sources.close();
      await pool.close();
      await storeBackend?.close();
      await tokens.close();
      await totp.close();
      await auditFile.flush();
      logger.info({ event: "gateway.stopped" }, "stopped");
      process.exit(0);
    })().catch((error: unknown) => {
      process.stderr.write(`credpool gateway: shutdown failed: ${String(error)}\n`);
      process.exit(1);
    });
  };
  // Installed before anything else is awaited, so a signal right after start-up still shuts down cleanly. `on`,
  // not `once`: signal-exit (under proper-lockfile and write-file-atomic) re-raises a signal it believes nobody
  // else handles, and a listener removed on the first call looked like nobody, killing a gateway mid-shutdown.
  // See test/gateway/shutdown.test.ts.
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  logger.info({ event: "gateway.listening", url: gateway.url, pool: poolWhere }, "listening");
  process.stderr.write(`credpool gateway listening on ${gateway.url} (pool: ${poolWhere})\n`);
  if ((await tokens.list()).length === 0) {
    process.stderr.write(
      "No client tokens yet: create one with `pnpm credpool gateway token create --name worker --scope lease`.\n",
    );
  }
}

runGateway(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(
    `credpool gateway: ${isPoolError(error) || error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(isPoolError(error) && (error.code === "E_USAGE" || error.code === "E_INVALID_OPTIONS") ? 2 : 1);
});

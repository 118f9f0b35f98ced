// `pnpm start`: the gateway on the default embedded file pool.
import { createFileBackend, isPoolError, resolvePoolPath } from "@credpool/pool-core";
import { createGatewayHandler } from "./handler.js";
import { startGatewayServer } from "./server.js";

async function runGateway(): Promise<void> {
  const path = process.env.CREDPOOL_POOL ?? resolvePoolPath();
  const backend = createFileBackend({ path, createIfMissing: true });
  // Create the pool on first start so a fresh machine has something to serve.
  await backend.update(() => undefined);
  const port = Number(process.env.CREDPOOL_GATEWAY_PORT ?? 7878);
  const host = process.env.CREDPOOL_GATEWAY_HOST ?? "127.0.0.1";
  const gateway = await startGatewayServer({ host, port, handler: createGatewayHandler({ backend }) });
  process.stdout.write(`credpool gateway listening on ${gateway.url} (pool: ${path})\n`);
  const stop = (): void => {
    void gateway
      .close()
      .then(() => backend.close())
      .then(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

runGateway().catch((error: unknown) => {
  process.stderr.write(`credpool gateway: ${isPoolError(error) ? error.message : String(error)}\n`);
  process.exit(1);
});

// A delegate agent: it inherits gateway access through CREDPOOL_GATEWAY_URL and CREDPOOL_GATEWAY_TOKEN alone.
import { createHash } from "node:crypto";
import { createGatewayClient } from "@credpool/pool-gateway";

const provider = process.argv[2] ?? "anthropic";
const client = createGatewayClient();
const digest = await client.withLease(provider, (lease) =>
  Promise.resolve(createHash("sha256").update(lease.token).digest("hex")),
);
// Only a digest is printed, so the key itself never reaches the test's output.
process.stdout.write(`${JSON.stringify({ done: true, tokenMatches: digest === process.env.EXPECTED_TOKEN_SHA256 })}\n`);

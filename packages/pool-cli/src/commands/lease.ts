// `credpool lease <provider>`: prints a credential for a script, as shell exports to eval or as JSON. The lease is
// recorded in the pool and outlives this process, so `credpool release <leaseId>` can end it from the next one.
import { getProviderDefaults } from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, jsonOption } from "../command.js";
import { parseSecondsOrDuration } from "../durations.js";
import { createOutput, isTerminal, shellQuote } from "../output.js";
import { openLeasingPool, withPool } from "../pool-access.js";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const { help, run } = defineCommand({
  name: "lease",
  usage: "credpool lease <provider> [--model M] [--ttl S] [--env VAR] [--json]",
  description:
    "Lease a credential of <provider> and print it for a script. Without --json it prints shell `export` lines\n" +
    "for eval: the key in the provider's usual variable (ANTHROPIC_API_KEY, OPENAI_API_KEY, ...), plus\n" +
    "CREDPOOL_LEASE_ID, CREDPOOL_CREDENTIAL_ID and CREDPOOL_BASE_URL when the credential has one.\n" +
    "The lease ends with `credpool release <leaseId> [--status N]`, or by itself when its TTL runs out.\n" +
    "This prints a secret: keep stdout out of logs.",
  args: [{ name: "provider", required: true }],
  options: {
    model: { type: "string", value: "M", description: "the model you will call (skips credentials benched for it)" },
    ttl: { type: "string", value: "S", description: "lease lifetime in seconds or like 30m (default 10m)" },
    env: { type: "string", value: "VAR", description: "export the key as VAR instead of the provider's default" },
    json: jsonOption,
  },
  examples: [
    'eval "$(credpool lease anthropic)" && curl -H "x-api-key: $ANTHROPIC_API_KEY" … ; credpool release "$CREDPOOL_LEASE_ID" --status 200',
    "credpool lease openrouter --ttl 30m --json | jq -r .token",
    "credpool lease anthropic --model claude-opus-4 --env MY_KEY",
  ],
  schema: z.object({
    provider: z.string().min(1),
    model: z.string().min(1).optional(),
    ttl: z.string().optional(),
    env: z.string().regex(ENV_NAME, "--env takes a variable name").optional(),
    json: z.boolean().default(false),
  }),
  async run(input, context) {
    const output = createOutput(context);
    const ttlMs =
      input.ttl === undefined
        ? undefined
        : parseSecondsOrDuration("--ttl", input.ttl, { minMs: 1000, maxMs: 24 * 3_600_000 });
    return withPool(
      context,
      async (pool) => {
        const lease = await pool.lease(input.provider, {
          detached: true,
          ...(input.model === undefined ? {} : { model: input.model }),
          ...(ttlMs === undefined ? {} : { ttlMs }),
        });
        const envVar = input.env ?? getProviderDefaults(lease.provider).envVar;
        if (input.json) {
          output.printJson({
            leaseId: lease.id,
            provider: lease.provider,
            credentialId: lease.credentialId,
            label: lease.label,
            kind: lease.kind,
            tokenType: lease.tokenType,
            token: lease.token,
            envVar,
            baseUrl: lease.baseUrl ?? null,
            model: lease.model ?? null,
            tokenExpiresAt: lease.expiresAt === undefined ? null : new Date(lease.expiresAt).toISOString(),
            leaseExpiresAt: new Date(lease.leaseExpiresAt).toISOString(),
          });
        } else {
          const lines = [
            `export ${envVar}=${shellQuote(lease.token)}`,
            `export CREDPOOL_LEASE_ID=${shellQuote(lease.id)}`,
            `export CREDPOOL_CREDENTIAL_ID=${shellQuote(lease.credentialId)}`,
            ...(lease.baseUrl ? [`export CREDPOOL_BASE_URL=${shellQuote(lease.baseUrl)}`] : []),
          ];
          output.print(lines.join("\n"));
        }
        if (isTerminal(context.stderr)) {
          output.note(
            `Leased ${lease.provider} "${lease.label}" until ${new Date(lease.leaseExpiresAt).toLocaleTimeString()}. ` +
              `When done: credpool release ${lease.id} [--status N]`,
          );
        }
        return 0;
      },
      { open: openLeasingPool },
    );
  },
});

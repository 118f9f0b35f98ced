// `credpool strategy <provider> [name]`: shows or sets how a provider's credentials are chosen.
import { DEFAULT_STRATEGY, STRATEGIES, assertProviderName } from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, jsonOption } from "../command.js";
import { requireTotp, totpCodeOption } from "../gate.js";
import { createOutput } from "../output.js";
import { readCliPool, withPool } from "../pool-access.js";

export const { help, run } = defineCommand({
  name: "strategy",
  usage: "credpool strategy <provider> [fill_first|round_robin|least_used|random|headroom] [--json]",
  description:
    "Show or set how credentials of <provider> are chosen:\n" +
    "  fill_first   the first available in priority order (default)\n" +
    "  round_robin  take turns, with the cursor shared by every process\n" +
    "  least_used   the one with the fewest requests so far\n" +
    "  random       any available one\n" +
    "  headroom     the most quota left in its tightest window (from the upstream's rate-limit headers)",
  args: [
    { name: "provider", required: true },
    { name: "name", required: false },
  ],
  options: { "totp-code": totpCodeOption, json: jsonOption },
  examples: [
    "credpool strategy anthropic",
    "credpool strategy anthropic round_robin",
    "credpool strategy openrouter least_used --json",
  ],
  schema: z.object({
    provider: z.string().min(1),
    name: z.enum(STRATEGIES, { error: `the strategy must be one of ${STRATEGIES.join(", ")}` }).optional(),
    totpCode: z.string().optional(),
    json: z.boolean().default(false),
  }),
  async run(input, context) {
    const output = createOutput(context);
    assertProviderName(input.provider);
    const name = input.name;
    if (name === undefined) {
      const { doc } = await readCliPool(context);
      const current = doc.providers[input.provider]?.strategy;
      if (input.json)
        output.printJson({
          provider: input.provider,
          strategy: current ?? DEFAULT_STRATEGY,
          isDefault: current === undefined,
        });
      else output.print(`${input.provider}: ${current ?? `${DEFAULT_STRATEGY} (default)`}`);
      return 0;
    }
    await requireTotp(context, { action: `strategy ${input.provider} ${name}`, code: input.totpCode });
    return withPool(context, async (pool) => {
      await pool.setStrategy(input.provider, name);
      if (input.json) output.printJson({ provider: input.provider, strategy: name, isDefault: false });
      else output.print(`${input.provider} now uses ${name}.`);
      return 0;
    });
  },
});

// `credpool report <target> --status N`: for scripts that called the provider themselves with a key from the pool.
import { listCredentialViews } from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, integerArgument, jsonOption } from "../command.js";
import { summarizeCredential } from "../credential-view.js";
import { createOutput } from "../output.js";
import { OUTCOME_DETAIL_OPTIONS, outcomeFrom } from "../outcome.js";
import { withPool } from "../pool-access.js";

export const { help, run } = defineCommand({
  name: "report",
  usage: "credpool report <target> --status N [--retry-after S] [--model M] [--message TEXT] [--json]",
  description:
    "Record the outcome of a request made outside a lease. 2xx/3xx count as success; 401, 402, 429 and 5xx bench\n" +
    "the credential for a while (the provider's retry-after wins when given); invalid_grant and similar in the\n" +
    "message mark it dead. With --model, a 429 benches only that model.",
  args: [{ name: "target", required: true }],
  options: {
    status: {
      type: "string",
      value: "N",
      description: "the HTTP status the provider answered (0 for a network failure)",
    },
    ...OUTCOME_DETAIL_OPTIONS,
    json: jsonOption,
  },
  examples: [
    "credpool report anthropic#1 --status 200",
    "credpool report work --status 429 --retry-after 120 --model claude-opus-4",
    "credpool report openrouter#2 --status 402 --message 'insufficient credits'",
  ],
  schema: z.object({
    target: z.string().min(1),
    status: integerArgument("--status", 0, 999, { required: "--status is required, e.g. --status 429" }),
    retryAfter: z.string().optional(),
    model: z.string().min(1).optional(),
    message: z.string().optional(),
    json: z.boolean().default(false),
  }),
  async run(input, context) {
    const output = createOutput(context);
    const outcome = outcomeFrom(input);
    return withPool(context, async (pool) => {
      const credential = await pool.report(input.target, outcome);
      const now = Date.now();
      const view = listCredentialViews(pool.doc, now, credential.provider).find(
        (item) => item.credential.id === credential.id,
      );
      const summary = view ? summarizeCredential(view, now) : undefined;
      if (input.json) output.printJson({ credential: summary ?? { id: credential.id } });
      else
        output.print(
          `Recorded ${input.status} for ${credential.provider} "${credential.label}": ${summary?.status ?? credential.status.state}.`,
        );
      return 0;
    });
  },
});

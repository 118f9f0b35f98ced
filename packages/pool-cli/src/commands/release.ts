// `credpool release <leaseId>`: ends a lease from `credpool lease`, from any process, with the request's outcome.
import { listCredentialViews } from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, integerArgument, jsonOption } from "../command.js";
import { summarizeCredential } from "../credential-view.js";
import { createOutput } from "../output.js";
import { OUTCOME_DETAIL_OPTIONS, outcomeFrom } from "../outcome.js";
import { withPool } from "../pool-access.js";

export const { help, run } = defineCommand({
  name: "release",
  usage: "credpool release <leaseId> [--status N] [--retry-after S] [--model M] [--message TEXT] [--json]",
  description:
    "Release a lease taken with `credpool lease`. Without --status the request counts as a success;\n" +
    "with a failing status (401, 402, 429, 5xx, ...) the credential is benched as `credpool report` would.",
  args: [{ name: "leaseId", required: true }],
  options: {
    status: { type: "string", value: "N", description: "the HTTP status the provider answered" },
    ...OUTCOME_DETAIL_OPTIONS,
    json: jsonOption,
  },
  examples: [
    'credpool release "$CREDPOOL_LEASE_ID"',
    'credpool release "$CREDPOOL_LEASE_ID" --status 429 --retry-after 60',
  ],
  schema: z.object({
    leaseId: z
      .string()
      .regex(/^[0-9a-z]{4,64}$/, "a lease id is lowercase letters and digits, as `credpool lease` printed it"),
    status: integerArgument("--status", 0, 999).optional(),
    retryAfter: z.string().optional(),
    model: z.string().min(1).optional(),
    message: z.string().optional(),
    json: z.boolean().default(false),
  }),
  async run(input, context) {
    const output = createOutput(context);
    const outcome = input.status === undefined ? "ok" : outcomeFrom({ ...input, status: input.status });
    return withPool(context, async (pool) => {
      const credential = await pool.releaseLease(input.leaseId, outcome);
      const now = Date.now();
      const view = listCredentialViews(pool.doc, now, credential.provider).find(
        (item) => item.credential.id === credential.id,
      );
      const summary = view ? summarizeCredential(view, now) : undefined;
      if (input.json) output.printJson({ leaseId: input.leaseId, credential: summary ?? { id: credential.id } });
      else
        output.print(
          `Released lease ${input.leaseId} on ${credential.provider} "${credential.label}": ${summary?.status ?? "ok"}.`,
        );
      return 0;
    });
  },
});

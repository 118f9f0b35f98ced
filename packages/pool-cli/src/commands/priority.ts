// `credpool priority <target> <n>`: lower numbers are tried first by fill_first and break ties elsewhere.
import { listCredentialViews } from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, integerArgument, jsonOption } from "../command.js";
import { summarizeCredential } from "../credential-view.js";
import { requireTotpWhenKeysStay, totpCodeOption } from "../gate.js";
import { createOutput } from "../output.js";
import { withPool } from "../pool-access.js";

export const { help, run } = defineCommand({
  name: "priority",
  usage: "credpool priority <target> <n> [--json]",
  description:
    "Set a credential's priority. Lower numbers come first in `list` and are tried first by fill_first;\n" +
    "the other strategies use the order to break ties. Negative numbers are allowed. Needs a TOTP code when TOTP\n" +
    "is configured and the pool's keys never leave credpool (`credpool secrets release never`).",
  args: [
    { name: "target", required: true },
    { name: "n", required: true },
  ],
  options: { "totp-code": totpCodeOption, json: jsonOption },
  examples: ["credpool priority work 0", "credpool priority anthropic#3 -1", "credpool priority 3k9x2m4a 10 --json"],
  schema: z.object({
    target: z.string().min(1),
    n: integerArgument("<n>", -1_000_000, 1_000_000),
    totpCode: z.string().optional(),
    json: z.boolean().default(false),
  }),
  async run(input, context) {
    const output = createOutput(context);
    return withPool(context, async (pool) => {
      const target = pool.resolve(input.target);
      await requireTotpWhenKeysStay(context, pool.doc, {
        action: `priority ${target.provider}/${target.label} ${input.n}`,
        code: input.totpCode,
      });
      const updated = await pool.setPriority(input.target, input.n);
      const now = Date.now();
      const view = listCredentialViews(pool.doc, now, updated.provider).find(
        (item) => item.credential.id === updated.id,
      );
      if (input.json) {
        output.printJson({
          credential: view ? summarizeCredential(view, now) : { id: updated.id, priority: updated.priority },
        });
      } else {
        const ref = view ? ` (now ${updated.provider}#${view.index})` : "";
        output.print(`Priority of ${updated.provider} "${updated.label}" is ${updated.priority}${ref}.`);
      }
      return 0;
    });
  },
});

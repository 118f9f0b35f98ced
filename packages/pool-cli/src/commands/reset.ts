// `credpool reset <provider> [target]`: clears cooldowns and dead states; the reset beats any stale writer.
import { listCredentialViews } from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, jsonOption } from "../command.js";
import { summarizeCredential } from "../credential-view.js";
import { requireTotpWhenKeysStay, totpCodeOption } from "../gate.js";
import { createOutput } from "../output.js";
import { withPool } from "../pool-access.js";

export const { help, run } = defineCommand({
  name: "reset",
  usage: "credpool reset <provider> [target] [--json]",
  description:
    "Mark credentials usable again: clears exhausted cooldowns (including per-model ones) and dead states,\n" +
    "for one credential or for every credential of <provider>. A failure reported by a request that started\n" +
    "before the reset does not undo it. Needs a TOTP code when TOTP is configured and the pool's keys never\n" +
    "leave credpool (`credpool secrets release never`).",
  args: [
    { name: "provider", required: true },
    { name: "target", required: false },
  ],
  options: { "totp-code": totpCodeOption, json: jsonOption },
  examples: [
    "credpool reset anthropic",
    "credpool reset anthropic work",
    "credpool reset openrouter openrouter#2 --json",
  ],
  schema: z.object({
    provider: z.string().min(1),
    target: z.string().min(1).optional(),
    totpCode: z.string().optional(),
    json: z.boolean().default(false),
  }),
  async run(input, context) {
    const output = createOutput(context);
    return withPool(context, async (pool) => {
      const scope = input.target === undefined ? input.provider : `${input.provider} ${input.target}`;
      await requireTotpWhenKeysStay(context, pool.doc, { action: `reset ${scope}`, code: input.totpCode });
      const touched = await pool.reset(input.provider, input.target);
      const now = Date.now();
      const ids = new Set(touched.map((credential) => credential.id));
      const views = listCredentialViews(pool.doc, now, input.provider).filter((view) => ids.has(view.credential.id));
      if (input.json) {
        output.printJson({ provider: input.provider, reset: views.map((view) => summarizeCredential(view, now)) });
      } else if (touched.length === 0) {
        output.note(`${input.provider} has no credentials; nothing to reset.`);
      } else {
        output.print(
          `Reset ${touched.length} ${input.provider} credential${touched.length === 1 ? "" : "s"}: ${touched.map((c) => c.label).join(", ")}.`,
        );
      }
      return 0;
    });
  },
});

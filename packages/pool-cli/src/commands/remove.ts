// `credpool remove <target>`: deletes one credential (TOTP-gated when configured).
import { listCredentialViews } from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, jsonOption } from "../command.js";
import { summarizeCredential } from "../credential-view.js";
import { requireTotp, totpCodeOption } from "../gate.js";
import { createOutput } from "../output.js";
import { withPool } from "../pool-access.js";

export const { help, run } = defineCommand({
  name: "remove",
  usage: "credpool remove <target> [--json]",
  description:
    "Remove a credential. <target> is an id, a unique label (any case) or provider#N as shown by `credpool list`.\n" +
    "An external source (Claude Code, Codex) may bring it back on the next sync; remove it there too.",
  args: [{ name: "target", required: true }],
  options: { "totp-code": totpCodeOption, json: jsonOption },
  examples: ["credpool remove anthropic#2", "credpool remove work", "credpool remove 3k9x2m4a --json"],
  schema: z.object({ target: z.string().min(1), totpCode: z.string().optional(), json: z.boolean().default(false) }),
  async run(input, context) {
    const output = createOutput(context);
    return withPool(context, async (pool) => {
      const target = pool.resolve(input.target);
      const now = Date.now();
      const view = listCredentialViews(pool.doc, now, target.provider).find((item) => item.credential.id === target.id);
      await requireTotp(context, { action: `remove ${target.provider}/${target.label}`, code: input.totpCode });
      const removed = await pool.remove(target.id);
      if (input.json) {
        output.printJson({ removed: view ? summarizeCredential(view, now) : { id: removed.id, label: removed.label } });
      } else {
        output.print(`Removed ${removed.provider} "${removed.label}" (id ${removed.id}).`);
      }
      return 0;
    });
  },
});

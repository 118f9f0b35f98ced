// `credpool secrets release [lease|never]`: whether a lease hands its key to the caller. The setting lives in the pool
// document, so every process and every path to the pool obeys it; changing it is TOTP-gated.
import { SECRET_RELEASE_MODES, secretReleaseOf } from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, defineCommandGroup, jsonOption } from "../command.js";
import { requireTotp, totpCodeOption } from "../gate.js";
import { createOutput } from "../output.js";
import { readCliPool, withPool } from "../pool-access.js";

const releaseCommand = defineCommand({
  name: "secrets release",
  usage: "credpool secrets release [lease|never] [--json]",
  description:
    "Show or set whether keys leave credpool:\n" +
    "  lease  `credpool lease`, `credpool exec` and the gateway's POST /v1/leases hand the key to the caller\n" +
    "         (default; for agents that call providers themselves)\n" +
    "  never  no lease hands out a key and `exec` refuses; only the gateway's proxy and a TOTP-gated reveal or\n" +
    "         export use the keys, and priority, strategy, reset and remove need a code too\n" +
    "Setting it needs a TOTP code when TOTP is configured. Without TOTP, anyone who can run credpool can set it back.",
  args: [{ name: "mode", required: false }],
  options: { "totp-code": totpCodeOption, json: jsonOption },
  examples: [
    "credpool secrets release",
    "credpool secrets release never",
    "credpool secrets release lease --totp-code 123456",
  ],
  schema: z.object({
    mode: z
      .enum(SECRET_RELEASE_MODES, { error: `the mode must be one of ${SECRET_RELEASE_MODES.join(", ")}` })
      .optional(),
    totpCode: z.string().optional(),
    json: z.boolean().default(false),
  }),
  async run(input, context) {
    const output = createOutput(context);
    const mode = input.mode;
    if (mode === undefined) {
      const { doc } = await readCliPool(context);
      const current = secretReleaseOf(doc);
      if (input.json) output.printJson({ release: current, isDefault: doc.settings?.secrets?.release === undefined });
      else
        output.print(`secrets.release: ${current}${doc.settings?.secrets?.release === undefined ? " (default)" : ""}`);
      return 0;
    }
    await requireTotp(context, { action: `secrets release ${mode}`, code: input.totpCode });
    return withPool(context, async (pool) => {
      await pool.setSecretRelease(mode);
      if (input.json) output.printJson({ release: mode, isDefault: false });
      else if (mode === "never") output.print("Keys now never leave credpool: leases and exec hand out no key.");
      else output.print("Leases now hand the key to the caller.");
      return 0;
    });
  },
});

export const { help, run } = defineCommandGroup({
  name: "secrets",
  usage: "credpool secrets release [lease|never]",
  description: "Pool-wide settings for how keys are used.",
  examples: ["credpool secrets release never"],
  subcommands: { release: releaseCommand },
});

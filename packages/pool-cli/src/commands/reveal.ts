// `credpool reveal <target>`: prints a credential's usable secret. TOTP-gated when TOTP is configured.
import { PoolError, resolveTarget } from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, jsonOption } from "../command.js";
import { requireTotp, totpCodeOption } from "../gate.js";
import { createOutput } from "../output.js";
import { readCliPool } from "../pool-access.js";

export const { help, run } = defineCommand({
  name: "reveal",
  usage: "credpool reveal <target> [--json]",
  description:
    "Print the secret a request would send: the API key, or the OAuth access token. Refresh tokens are never\n" +
    "printed (a copy used elsewhere would be replayed). Needs a TOTP code when TOTP is configured.",
  args: [{ name: "target", required: true }],
  options: { "totp-code": totpCodeOption, json: jsonOption },
  examples: [
    "credpool reveal anthropic#1",
    "credpool reveal work --json",
    "credpool reveal work --totp-code 123456 | pbcopy",
  ],
  schema: z.object({ target: z.string().min(1), totpCode: z.string().optional(), json: z.boolean().default(false) }),
  async run(input, context) {
    const output = createOutput(context);
    const { doc } = await readCliPool(context);
    const credential = resolveTarget(doc, input.target);
    await requireTotp(context, { action: `reveal ${credential.provider}/${credential.label}`, code: input.totpCode });
    const token = credential.kind === "api_key" ? credential.secrets.apiKey : credential.secrets.accessToken;
    if (!token) {
      throw new PoolError(
        "E_NOT_FOUND",
        `${credential.provider} "${credential.label}" has no ${credential.kind === "api_key" ? "API key" : "access token"} stored.`,
      );
    }
    if (input.json) {
      output.printJson({
        id: credential.id,
        provider: credential.provider,
        label: credential.label,
        kind: credential.kind,
        tokenType: credential.kind === "api_key" ? "api_key" : "bearer",
        token,
        expiresAt:
          credential.secrets.expiresAt === undefined ? null : new Date(credential.secrets.expiresAt).toISOString(),
      });
    } else {
      output.print(token);
    }
    return 0;
  },
});

// `credpool refresh <target> [--force]`: refreshes one OAuth credential now, through the same single-flight protocol
// leases use (so it never races a gateway refreshing the same login). Prints no token.
import { dirname } from "node:path";
import { createLinkedRefresher, ownershipOf, sourceLinkOf } from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, jsonOption } from "../command.js";
import { loadCliConfig } from "../config.js";
import { createOutput } from "../output.js";
import { resolveCliPoolPath, withPool } from "../pool-access.js";

export const { help, run } = defineCommand({
  name: "refresh",
  usage: "credpool refresh <target> [--force] [--json]",
  description:
    "Refresh an OAuth credential's access token if it is due (within its provider's skew of expiry), or now\n" +
    "with --force. Only one process ever sends a given refresh token: if another one refreshed it first, its\n" +
    "token is adopted. Borrowed credentials (imported from Claude Code or Codex without --own) are never\n" +
    "refreshed by credpool; their file is re-read instead. Token endpoints: CREDPOOL_ANTHROPIC_TOKEN_URL,\n" +
    "CREDPOOL_OPENAI_TOKEN_URL, CREDPOOL_<NAME>_TOKEN_URL, or `refresh.providers` in config.json.",
  args: [{ name: "target", required: true }],
  options: {
    force: { type: "boolean", description: "refresh even if the token is not due yet" },
    json: jsonOption,
  },
  examples: ["credpool refresh work", "credpool refresh anthropic#1 --force", "credpool refresh codex --json"],
  schema: z.object({ target: z.string().min(1), force: z.boolean().default(false), json: z.boolean().default(false) }),
  async run(input, context) {
    const output = createOutput(context);
    const home = dirname(await resolveCliPoolPath(context));
    const { config } = await loadCliConfig(context, home);
    const refresher = createLinkedRefresher({ ...config.refresh, env: context.env });
    return withPool(context, async (pool) => {
      const target = pool.resolve(input.target);
      const result = await refresher.refresh(pool.backend, target.id, { force: input.force });
      const { credential, outcome } = result;
      const expiresAt = credential.secrets.expiresAt;
      if (input.json) {
        output.printJson({
          credential: credential.id,
          provider: credential.provider,
          label: credential.label,
          outcome,
          ownership: ownershipOf(credential),
          tokenGeneration: credential.tokenGeneration,
          expiresAt: expiresAt === undefined ? null : new Date(expiresAt).toISOString(),
        });
        return 0;
      }
      const who = `${credential.provider} "${credential.label}"`;
      const until = expiresAt === undefined ? "" : ` (valid until ${new Date(expiresAt).toLocaleString()})`;
      const link = sourceLinkOf(credential);
      switch (outcome) {
        case "refreshed":
          output.print(
            `Refreshed ${who}${until}.${link?.ownership === "own" ? ` Wrote the new pair back to ${link.path}.` : ""}`,
          );
          break;
        case "adopted":
          output.print(
            `${who} already had a newer token${link ? ` (from ${link.path} or another process)` : " from another process"}${until}; nothing was sent.`,
          );
          break;
        case "fresh":
          // --force re-reads a borrowed login's file but never refreshes it: its owner does (refresher.ts).
          output.print(
            input.force && ownershipOf(credential) === "borrow"
              ? `${who} is borrowed${link ? ` from ${link.path}` : ""}: its owner refreshes it, and credpool only re-reads the file, which holds nothing newer${until}. \`credpool import ${link?.kind ?? "<source>"} --own\` lets credpool refresh it.`
              : `${who} is not due for a refresh${until}. Use --force to refresh it anyway.`,
          );
          break;
      }
      return 0;
    });
  },
});

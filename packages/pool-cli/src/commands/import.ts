// `credpool import <claude-code|codex|hermes|env>`: brings credentials in from another tool's file or the
// environment, in one commit. Claude Code and Codex logins stay linked to their file (borrowed by default).
import { dirname, resolve } from "node:path";
import {
  PoolError,
  createFileBackend,
  importClaudeCodeKeychain,
  sourcePathOf,
  syncSources,
  usesKeychain,
  type SourceSpec,
  type SyncChange,
} from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, jsonOption } from "../command.js";
import { loadCliConfig } from "../config.js";
import { requireTotp, totpCodeOption } from "../gate.js";
import { createOutput } from "../output.js";
import { fileOptionsFor, resolveCliPoolPath } from "../pool-access.js";

const SOURCES = ["claude-code", "codex", "hermes", "env"] as const;
const TOOL_NAMES: Record<(typeof SOURCES)[number], string> = {
  "claude-code": "Claude Code",
  codex: "Codex",
  hermes: "hermes",
  env: "the environment",
};

function describeChange(change: SyncChange, path: string | undefined, ownership: string | undefined): string {
  const who = `${change.provider}/${change.label}`;
  switch (change.action) {
    case "added": {
      if (!path || change.source === "hermes") return `Imported ${who}.`;
      return ownership === "own"
        ? `Imported ${who}, owned: credpool refreshes it and writes each new token pair back to ${path}.`
        : `Imported ${who}, borrowed: ${TOOL_NAMES[change.source as "claude-code" | "codex"] ?? change.source} keeps refreshing it and credpool re-reads ${path}.`;
    }
    case "updated":
      if (path && change.reason === "now owned")
        return `${who} is now owned: credpool refreshes it and writes each new token pair back to ${path}.`;
      if (path && change.reason === "now borrowed")
        return `${who} is now borrowed: ${TOOL_NAMES[change.source as "claude-code" | "codex"] ?? change.source} refreshes it and credpool re-reads ${path}.`;
      return `Updated ${who} (${change.reason ?? "new tokens"}).`;
    case "unchanged":
      return `Already in the pool: ${who}.`;
    case "skipped":
      return `Kept ${who} as it is: ${change.reason ?? "skipped"}.`;
  }
}

export const { help, run } = defineCommand({
  name: "import",
  usage: "credpool import <claude-code|codex|hermes|env> [--from FILE] [--own|--borrow] [--json]",
  description:
    "Import credentials from another tool, all in one commit:\n" +
    "  claude-code  $CLAUDE_CONFIG_DIR/.credentials.json or ~/.claude/.credentials.json (an anthropic OAuth login);\n" +
    '               on macOS, without that file, the Keychain item "Claude Code-credentials" (owned, written back)\n' +
    "  codex        $CODEX_HOME/auth.json or ~/.codex/auth.json (an openai-codex login, or an openai API key)\n" +
    "  hermes       ~/.hermes/auth.json credential_pool: every provider, with priorities and statuses (copied once)\n" +
    "  env          ANTHROPIC_API_KEY, OPENAI_API_KEY, OPENROUTER_API_KEY (or `sources.env` in config.json)\n" +
    "Claude Code and Codex logins stay linked to their file. By default they are borrowed: that tool keeps\n" +
    "refreshing the token and credpool only re-reads the file. With --own, credpool refreshes it and writes\n" +
    "every new pair back to the file (keeping its other fields, mode and symlink). Importing again updates the\n" +
    "link (e.g. after a re-login) and, with --own or --borrow, switches ownership.",
  args: [{ name: "source", required: true }],
  options: {
    from: { type: "string", value: "FILE", description: "read this file instead of the tool's default location" },
    own: {
      type: "boolean",
      description: "credpool refreshes the login and writes new tokens back (claude-code, codex)",
    },
    borrow: {
      type: "boolean",
      description: "the tool keeps refreshing; credpool only reads (default for new imports)",
    },
    "totp-code": totpCodeOption,
    json: jsonOption,
  },
  examples: [
    "credpool import claude-code",
    "credpool import codex --own",
    "credpool import claude-code --from /srv/agent/.claude/.credentials.json --borrow",
    "credpool import hermes --json",
    "ANTHROPIC_API_KEY=… credpool import env",
  ],
  schema: z
    .object({
      source: z.enum(SOURCES, { error: `<source> must be one of ${SOURCES.join(", ")}` }),
      from: z.string().min(1).optional(),
      own: z.boolean().default(false),
      borrow: z.boolean().default(false),
      totpCode: z.string().optional(),
      json: z.boolean().default(false),
    })
    .refine((input) => !(input.own && input.borrow), { message: "--own and --borrow exclude each other" })
    .refine((input) => !(input.own || input.borrow) || input.source === "claude-code" || input.source === "codex", {
      message: "--own and --borrow apply to claude-code and codex only (hermes and env imports are credpool's own)",
    })
    .refine((input) => input.from === undefined || input.source !== "env", { message: "--from does not apply to env" }),
  async run(input, context) {
    const output = createOutput(context);
    await requireTotp(context, { action: `import ${input.source}`, code: input.totpCode });
    const home = dirname(await resolveCliPoolPath(context));
    const { config } = await loadCliConfig(context, home);
    const ownership = input.own ? "own" : input.borrow ? "borrow" : undefined;
    const path = input.from === undefined ? undefined : resolve(input.from);
    let spec: SourceSpec;
    switch (input.source) {
      case "claude-code":
      case "codex":
        spec = { kind: input.source, ...(path ? { path } : {}), ...(ownership ? { ownership } : {}) };
        break;
      case "hermes":
        spec = { kind: "hermes", ...(path ? { path } : {}) };
        break;
      case "env":
        spec = { kind: "env", ...(config.sources?.env ? { vars: config.sources.env } : {}) };
        break;
    }
    const filePath = sourcePathOf(spec, context.env);
    const backend = createFileBackend(await fileOptionsFor(context));
    try {
      const result = await syncSources(backend, [spec], { env: context.env });
      const reading = result.readings[0];
      if (reading?.error) throw reading.error;
      if (reading?.state === "missing") {
        // On macOS Claude Code keeps its login in the Keychain, not in the file.
        const fromKeychain =
          input.source === "claude-code" && path === undefined && usesKeychain()
            ? await importClaudeCodeKeychain(backend, { env: context.env })
            : undefined;
        if (fromKeychain) {
          if (input.json) {
            output.printJson({ source: input.source, keychain: fromKeychain.service, changes: fromKeychain.changes });
            return 0;
          }
          for (const change of fromKeychain.changes) {
            output.print(
              change.action === "added"
                ? `Imported ${change.provider}/${change.label} from the macOS Keychain item "${fromKeychain.service}", owned: credpool refreshes it and writes each new token pair back to that item.`
                : describeChange(change, undefined, undefined),
            );
          }
          return 0;
        }
        const keychain =
          input.source === "claude-code" && usesKeychain()
            ? " The macOS Keychain has no Claude Code login either."
            : "";
        throw new PoolError(
          "E_SOURCE",
          `No ${TOOL_NAMES[input.source]} credentials at ${filePath ?? "?"}. Log in with ${TOOL_NAMES[input.source]} first, or pass --from FILE.${keychain}`,
          { details: { path: filePath } },
        );
      }
      if (reading && reading.candidates.length === 0 && reading.skipped.length === 0) {
        throw new PoolError(
          "E_SOURCE",
          input.source === "env"
            ? "None of the variables credpool imports from is set (ANTHROPIC_API_KEY, OPENAI_API_KEY, OPENROUTER_API_KEY, or `sources.env` in config.json)."
            : `${filePath ?? "The file"} holds no login (logged out?). Log in with ${TOOL_NAMES[input.source]} and import again.`,
          { details: { path: filePath } },
        );
      }
      if (input.json) {
        output.printJson({
          source: input.source,
          path: filePath ?? null,
          committed: result.committed,
          rev: result.rev,
          changes: result.changes,
          notImported: reading?.skipped ?? [],
        });
        return 0;
      }
      for (const change of result.changes)
        output.print(describeChange(change, filePath, ownership ?? (change.action === "added" ? "borrow" : undefined)));
      for (const entry of reading?.skipped ?? []) output.print(`Not imported: ${entry.label}: ${entry.reason}.`);
      if (ownership === "own") {
        output.note(
          `A ${TOOL_NAMES[input.source]} session that is already running may still hold the old refresh token in memory; ` +
            "restart it so it reads the file credpool now keeps up to date.",
        );
      }
      if (input.source === "hermes" && result.changes.some((change) => change.action === "added")) {
        output.note(
          "hermes still holds these credentials. Stop using the imported OAuth logins in hermes, or hermes and credpool " +
            "will each spend refresh tokens the other still holds.",
        );
      }
      return 0;
    } finally {
      await backend.close();
    }
  },
});

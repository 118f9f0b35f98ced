// `credpool sync`: brings the pool up to date with Claude Code's and Codex's files, every file a credential was
// imported from, and the environment, in one commit. Nothing new means nothing written.
import { dirname } from "node:path";
import {
  createFileBackend,
  defaultSourceSpecs,
  linkedSourceSpecs,
  syncSources,
  type SourceSpec,
  type SyncChange,
} from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, jsonOption } from "../command.js";
import { loadCliConfig } from "../config.js";
import { createOutput } from "../output.js";
import { fileOptionsFor, resolveCliPoolPath } from "../pool-access.js";

function describeChange(change: SyncChange): string {
  const who = `${change.provider}/${change.label}`;
  switch (change.action) {
    case "added":
      return `added ${who} (from ${change.source})`;
    case "updated":
      return `updated ${who} (${change.reason ?? "from " + change.source})`;
    case "skipped":
      return `kept ${who} as it is: ${change.reason ?? "skipped"}`;
    case "unchanged":
      return `${who} unchanged`;
  }
}

export const { help, run } = defineCommand({
  name: "sync",
  usage: "credpool sync [--json]",
  description:
    "Read Claude Code's credentials ($CLAUDE_CONFIG_DIR or ~/.claude/.credentials.json), the Codex auth file\n" +
    "($CODEX_HOME or ~/.codex/auth.json), every file a credential was imported from, and the environment\n" +
    "(ANTHROPIC_API_KEY, OPENAI_API_KEY, OPENROUTER_API_KEY, or `sources.env` in config.json), and apply it\n" +
    "all in one commit. A re-login in Claude Code or Codex is adopted and revives a dead credential. Missing\n" +
    "files and unset variables remove nothing. New logins are added as borrowed (the tool keeps refreshing\n" +
    "them); use `credpool import <source> --own` to let credpool refresh one instead.",
  options: { json: jsonOption },
  examples: ["credpool sync", "credpool sync --json", "ANTHROPIC_API_KEY=… credpool sync"],
  schema: z.object({ json: z.boolean().default(false) }),
  async run(input, context) {
    const output = createOutput(context);
    const home = dirname(await resolveCliPoolPath(context));
    const { config } = await loadCliConfig(context, home);
    const backend = createFileBackend(await fileOptionsFor(context));
    try {
      const { doc } = await backend.read();
      const specs: SourceSpec[] = [
        ...defaultSourceSpecs().map((spec): SourceSpec =>
          spec.kind === "env" && config.sources?.env ? { kind: "env", vars: config.sources.env } : spec,
        ),
        ...linkedSourceSpecs(doc),
      ];
      const result = await syncSources(backend, specs, { env: context.env });
      const changes = result.changes.filter((change) => change.action !== "unchanged");
      if (input.json) {
        output.printJson({
          committed: result.committed,
          rev: result.rev,
          changes: result.changes,
          sources: result.readings.map((reading) => ({
            kind: reading.spec.kind,
            path: reading.path ?? null,
            state: reading.state,
            error: reading.error?.message ?? null,
          })),
        });
      } else {
        for (const change of changes) output.print(describeChange(change));
        if (!result.committed) output.print("The pool is up to date with its sources; nothing was written.");
        // The first failure is printed by the top-level handler, with its exit code; list any others here.
        for (const error of result.errors.slice(1)) output.note(`credpool: ${error.message}`);
      }
      // Partial success is still a failure to report: a source that could not be read was not synced.
      const firstError = result.errors[0];
      if (firstError) throw firstError;
      return 0;
    } finally {
      await backend.close();
    }
  },
});

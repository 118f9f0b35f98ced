// `credpool list [provider]`: the pool at a glance. Reads the file once, without a watcher or a lock, so it starts
// fast (see bench/groups/cli.mjs).
import { DEFAULT_STRATEGY, assertProviderName, listCredentialViews } from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, jsonOption } from "../command.js";
import { describeQuota, describeStatus, refOf, summarizeCredential } from "../credential-view.js";
import { createOutput, formatAgo, renderTable, terminalColumns } from "../output.js";
import { readCliPool } from "../pool-access.js";

export const { help, run } = defineCommand({
  name: "list",
  usage: "credpool list [provider] [--wide] [--json]",
  description:
    "List credentials in selection order, with their status and how long until a benched one frees up.\n" +
    "Once an upstream has reported quota windows (through the gateway's proxy), a quota column shows each\n" +
    "credential's two tightest, e.g. 5h 62% · resets 14:05.\n" +
    "The # column (provider#N) is a target you can pass to other commands. On a terminal the table fits its width:\n" +
    "id, source and kind are left out first, then labels and statuses are cut; --wide (or a pipe) shows it all.",
  args: [{ name: "provider" }],
  options: {
    wide: { type: "boolean", description: "every column in full, however wide the terminal" },
    json: jsonOption,
  },
  examples: [
    "credpool list",
    "credpool list anthropic --wide",
    "credpool list --json | jq '.credentials[] | select(.available)'",
  ],
  schema: z.object({
    provider: z.string().optional(),
    wide: z.boolean().default(false),
    json: z.boolean().default(false),
  }),
  async run(input, context) {
    const output = createOutput(context);
    if (input.provider !== undefined) assertProviderName(input.provider);
    const { doc, path } = await readCliPool(context);
    const now = Date.now();
    const views = listCredentialViews(doc, now, input.provider);
    if (input.json) {
      const providers = Object.fromEntries(
        Object.keys(doc.providers)
          .filter((name) => input.provider === undefined || name === input.provider)
          .sort()
          .map((name) => [name, { strategy: doc.providers[name]?.strategy ?? DEFAULT_STRATEGY }]),
      );
      output.printJson({
        path,
        rev: doc.rev,
        providers,
        credentials: views.map((view) => summarizeCredential(view, now)),
      });
      return 0;
    }
    if (views.length === 0) {
      const scope = input.provider === undefined ? "" : ` for ${input.provider}`;
      output.note(
        `No credentials${scope} in ${path}. Add one with \`credpool add ${input.provider ?? "<provider>"} --api-key-stdin\`.`,
      );
      return 0;
    }
    // The quota column only once some upstream has reported a window: before that it would be empty noise.
    const showQuota = views.some((view) => (view.credential.quota?.windows.length ?? 0) > 0);
    const rows = views.map((view) => {
      const { credential } = view;
      const status = describeStatus(view, now);
      return [
        refOf(view),
        { text: credential.id, style: "dim" as const },
        credential.label,
        credential.kind,
        String(credential.priority),
        credential.source,
        { text: status.text, style: status.style },
        // The two tightest windows; `show` has them all.
        ...(showQuota ? [describeQuota(credential, now, 2)] : []),
        String(credential.usage.requests),
        formatAgo(credential.usage.lastUsedAt, now),
      ];
    });
    // A row that wraps is harder to read than a missing column: on a terminal the least useful columns go first
    // (id, source, kind), then labels and statuses are cut. `--wide`, `show` and piped output have everything.
    const headers = [
      ...["#", "id", "label", "kind", "priority", "source", "status"],
      ...(showQuota ? ["quota"] : []),
      ...["requests", "last used"],
    ];
    const width = input.wide ? undefined : terminalColumns(context.stdout);
    const fit = width === undefined ? undefined : { width, drop: [1, 5, 3], shrink: showQuota ? [7, 2, 6] : [2, 6] };
    output.print(renderTable(output, headers, rows, { fit }));
    return 0;
  },
});

// `credpool watch`: a live view of the pool. On a terminal it redraws the table on every change (and every few
// seconds for the countdowns); piped, it prints one line per change so logs and `grep` work.
import { listCredentialViews, watchLinkedSources, type PoolDocument } from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, jsonOption } from "../command.js";
import { describeStatus, refOf, summarizeCredential } from "../credential-view.js";
import { createOutput, escapeControls, formatAgo, renderTable, terminalColumns } from "../output.js";
import { openCliPool } from "../pool-access.js";

const REDRAW_MS = 5000;

export const { help, run } = defineCommand({
  name: "watch",
  usage: "credpool watch [provider] [--json]",
  description:
    "Follow the pool as other processes use it. On a terminal the table is redrawn whenever the pool changes.\n" +
    "When stdout is not a terminal, one line is printed per change (with --json, one JSON object per line:\n" +
    "{rev, updatedAt, changed, credentials}). While it runs, a refresh or re-login in Claude Code or Codex is\n" +
    "adopted from every linked file. Stop with Ctrl-C.",
  args: [{ name: "provider" }],
  options: { json: jsonOption },
  examples: ["credpool watch", "credpool watch anthropic", "credpool watch --json | jq -c '.changed'"],
  schema: z.object({ provider: z.string().optional(), json: z.boolean().default(false) }),
  async run(input, context) {
    const output = createOutput(context);
    const pool = await openCliPool(context);
    let previous = new Map<string, string>();

    const draw = (doc: PoolDocument): void => {
      const now = Date.now();
      const views = listCredentialViews(doc, now, input.provider);
      const current = new Map(views.map((view) => [view.credential.id, describeStatus(view, now).text]));
      const changed = views.filter((view) => previous.get(view.credential.id) !== current.get(view.credential.id));
      const removed = [...previous.keys()].filter((id) => !current.has(id));
      previous = current;
      if (input.json) {
        output.printJson(
          {
            rev: doc.rev,
            updatedAt: doc.updatedAt,
            changed: changed.map((view) => view.credential.id),
            removed,
            credentials: views.map((view) => summarizeCredential(view, now)),
          },
          { compact: true },
        );
        return;
      }
      if (!output.isTTY) {
        const parts = changed.map(
          (view) => `${refOf(view)} ${view.credential.label}: ${current.get(view.credential.id) ?? ""}`,
        );
        if (removed.length > 0) parts.push(`removed ${removed.join(", ")}`);
        const available = views.filter((view) => view.available).length;
        output.print(
          escapeControls(
            `${new Date(now).toISOString()} rev ${doc.rev} · ${views.length} credentials, ${available} available` +
              (parts.length > 0 ? ` · ${parts.join("; ")}` : ""),
          ),
        );
        return;
      }
      const rows = views.map((view) => {
        const status = describeStatus(view, now);
        return [
          refOf(view),
          view.credential.label,
          { text: status.text, style: status.style },
          String(view.credential.usage.requests),
          formatAgo(view.credential.usage.lastUsedAt, now),
        ];
      });
      const width = terminalColumns(context.stdout);
      const fit = width === undefined ? undefined : { width, shrink: [1, 2] };
      const table =
        views.length > 0
          ? renderTable(output, ["#", "label", "status", "requests", "last used"], rows, { fit })
          : "No credentials yet.";
      // Home, clear screen, then the frame: one write, so the terminal never shows half a frame.
      context.stdout.write(
        `\u001b[H\u001b[2J${table}\n\n${output.paint("dim", `rev ${doc.rev} · updated ${doc.updatedAt} · Ctrl-C to quit`)}\n`,
      );
    };

    draw(pool.doc);
    const stop = pool.onChange((change) => draw(change.doc));
    // Adopted tokens are commits like any other, so they show up through onChange.
    const sources = watchLinkedSources(pool.backend, {
      env: context.env,
      onError: (error) => output.note(`credpool: could not sync a linked source: ${(error as Error).message}`),
    });
    // Also what keeps the process alive: the pool's watcher and signal handlers hold no reference to the loop.
    const redraw = setInterval(() => {
      if (output.isTTY && !input.json) draw(pool.doc);
    }, REDRAW_MS);
    await new Promise<void>((resolve) => {
      const finish = (): void => {
        for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(signal, finish);
        context.stdout.off("error", finish);
        resolve();
      };
      for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, finish);
      // `credpool watch | head`: once the reader is gone (EPIPE) there is nobody to draw for.
      context.stdout.on("error", finish);
    });
    clearInterval(redraw);
    stop();
    await sources.close();
    await pool.close();
    return 0;
  },
});

// `credpool show <target>`: everything about one credential, with every secret masked (`sk-ant-…a1b2`).
import { listCredentialViews, resolveTarget } from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, jsonOption } from "../command.js";
import { detailCredential, describeStatus } from "../credential-view.js";
import { createOutput, escapeControls, formatAgo, formatDuration } from "../output.js";
import { readCliPool } from "../pool-access.js";

export const { help, run } = defineCommand({
  name: "show",
  usage: "credpool show <target> [--json]",
  description:
    "Show one credential: status and its reason, quota windows, usage, leases, token expiry and masked secrets.\n" +
    "<target> is an id, a unique label (any case) or provider#N. Use `credpool reveal` to see a secret.",
  args: [{ name: "target", required: true }],
  options: { json: jsonOption },
  examples: ["credpool show anthropic#1", "credpool show work --json"],
  schema: z.object({ target: z.string().min(1), json: z.boolean().default(false) }),
  async run(input, context) {
    const output = createOutput(context);
    const { doc } = await readCliPool(context);
    const credential = resolveTarget(doc, input.target);
    const now = Date.now();
    const view = listCredentialViews(doc, now, credential.provider).find(
      (item) => item.credential.id === credential.id,
    );
    if (!view) throw new Error(`credential ${credential.id} vanished from its own provider list`);
    const detail = detailCredential(view, now);
    if (input.json) {
      output.printJson({ credential: detail });
      return 0;
    }
    const status = describeStatus(view, now);
    const rows: [string, string][] = [
      ["ref", detail.ref],
      ["id", detail.id],
      ["label", detail.label],
      ["provider", detail.provider],
      ["kind", detail.kind],
      ["priority", String(detail.priority)],
      ["source", detail.source],
      ["base url", detail.baseUrl ?? "(provider default)"],
      ["status", output.paint(status.style, escapeControls(status.text))],
    ];
    if (detail.statusMessage) rows.push(["message", detail.statusMessage]);
    if (detail.statusSince) rows.push(["since", detail.statusSince]);
    for (const [name, value] of Object.entries(detail.secrets)) {
      if (value !== null && name !== "expiresAt")
        rows.push([name.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`), value]);
    }
    const expiresAt = credential.secrets.expiresAt;
    if (expiresAt !== undefined) {
      rows.push([
        "token expires",
        `${new Date(expiresAt).toISOString()} (${expiresAt > now ? `in ${formatDuration(expiresAt - now)}` : "expired"})`,
      ]);
    }
    rows.push(["token generation", String(detail.tokenGeneration)]);
    detail.quota.forEach((window, index) => rows.push([index === 0 ? "quota" : "", window.text]));
    rows.push(["requests", `${detail.requests} (${detail.failures} failed)`]);
    rows.push(["last used", formatAgo(credential.usage.lastUsedAt, now)]);
    rows.push([
      "leases",
      detail.maxConcurrent === null ? String(detail.activeLeases) : `${detail.activeLeases}/${detail.maxConcurrent}`,
    ]);
    for (const lease of detail.leases)
      rows.push(["  lease", `${lease.id} until ${lease.expiresAt}${lease.holder ? ` (${lease.holder})` : ""}`]);
    const width = Math.max(...rows.map(([name]) => name.length));
    // Every value but the painted status is pool text, escaped so it cannot drive the terminal.
    output.print(
      rows
        .map(
          ([name, value]) =>
            `${output.paint("dim", name.padEnd(width))}  ${name === "status" ? value : escapeControls(value)}`,
        )
        .join("\n"),
    );
    return 0;
  },
});

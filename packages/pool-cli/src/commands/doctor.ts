// `credpool doctor [--fix] [--restore]`: checks the pool's files, config.json and TOTP state; each finding says how to fix it.
import { dirname } from "node:path";
import {
  inspectConfig,
  inspectPool,
  repairPool,
  restorePoolBackup,
  type DoctorFinding,
  type RepairAction,
  type RestoreResult,
  type StoreChoice,
} from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, jsonOption, type CommandContext } from "../command.js";
import { inspectTotp } from "../gate.js";
import { createOutput, type Style } from "../output.js";
import { lockTimeoutFrom, resolveCliPoolPath, storeChoiceFor } from "../pool-access.js";

const MARK: Record<DoctorFinding["severity"], { text: string; style: Style }> = {
  ok: { text: "ok  ", style: "green" },
  warning: { text: "warn", style: "yellow" },
  error: { text: "FAIL", style: "red" },
};

export const { help, run } = defineCommand({
  name: "doctor",
  usage: "credpool doctor [--fix] [--restore [--force]] [--json]",
  description:
    "Check the pool: directory and file modes and owners, a stale or long-held lock (for how long, and which\n" +
    "credpool processes are running), schema validity, the backup, temp files left by a crashed writer, the\n" +
    "source files credentials mirror, unknown keys in config.json, and the TOTP state. Each problem comes with\n" +
    "its fix.\n" +
    "--fix tightens modes and removes stale locks and leftover temp files. --restore replaces a corrupt or\n" +
    "missing pool file with its backup (the damaged file is kept). Exits 1 while an error-level finding remains.",
  options: {
    fix: { type: "boolean", description: "apply the safe fixes" },
    restore: { type: "boolean", description: "restore pool.json from pool.json.bak when it is corrupt or missing" },
    force: { type: "boolean", description: "with --restore: roll back even though the pool is valid" },
    json: jsonOption,
  },
  examples: [
    "credpool doctor",
    "credpool doctor --fix",
    "credpool doctor --restore",
    "credpool doctor --json | jq '.findings[] | select(.severity != \"ok\")'",
  ],
  schema: z.object({
    fix: z.boolean().default(false),
    restore: z.boolean().default(false),
    force: z.boolean().default(false),
    json: z.boolean().default(false),
  }),
  async run(input, context) {
    const output = createOutput(context);
    const store = await storeChoiceFor(context);
    if (store.kind === "postgres") return doctorPostgres(context, store, input.json);
    const path = await resolveCliPoolPath(context);
    const lockTimeoutMs = lockTimeoutFrom(context.env);
    const repaired: RepairAction[] = [];
    if (input.force && !input.restore) output.note("credpool: --force only matters with --restore; ignoring it.");
    if (input.restore) {
      const restored = await restorePoolBackup({
        path,
        force: input.force,
        ...(lockTimeoutMs === undefined ? {} : { lockTimeoutMs }),
      });
      repaired.push({
        check: "schema",
        message: describeRestore(path, restored),
      });
    }
    if (input.fix)
      repaired.push(...(await repairPool({ path, ...(lockTimeoutMs === undefined ? {} : { lockTimeoutMs }) })));
    const findings = [
      ...(await inspectPool({ path, allowSymlink: context.allowSymlink === true })),
      ...(await inspectConfig({ home: dirname(path), env: context.env })),
      ...(await inspectTotp(context)),
    ];
    const failing = findings.filter((finding) => finding.severity === "error").length;

    if (input.json) {
      output.printJson({
        path,
        ok: failing === 0,
        findings: findings.map((finding) => ({
          check: finding.check,
          severity: finding.severity,
          message: finding.message,
          fix: finding.fix ?? null,
          fixable: finding.fixable ?? false,
        })),
        repaired,
      });
      return failing === 0 ? 0 : 1;
    }
    for (const action of repaired) output.print(`${output.paint("green", "fixed")} ${action.check}: ${action.message}`);
    for (const finding of findings) {
      const mark = MARK[finding.severity];
      output.print(`${output.paint(mark.style, mark.text)}  ${finding.check}: ${finding.message}`);
      if (finding.fix) output.print(`      → ${finding.fix}`);
    }
    const warnings = findings.filter((finding) => finding.severity === "warning").length;
    const fixable = findings.some((finding) => finding.fixable && finding.severity !== "ok");
    output.print(
      failing + warnings === 0
        ? `\n${path}: all checks passed.`
        : `\n${path}: ${failing} error${failing === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"}.` +
            (fixable && !input.fix ? " Run `credpool doctor --fix` for the safe fixes." : ""),
    );
    return failing === 0 ? 0 : 1;
  },
});

/** Says which revision came back and what the restore knowingly rolled back, so nothing is lost in silence. */
function describeRestore(path: string, restored: RestoreResult): string {
  const newer =
    restored.damagedRev === undefined
      ? "the damaged file's own rev could not be read"
      : restored.damagedRev > restored.backupRev
        ? `the damaged file was rev ${restored.damagedRev}, so changes after rev ${restored.backupRev} are lost`
        : `the damaged file was rev ${restored.damagedRev}`;
  const kept = restored.keptAs ? `; the damaged file is kept as ${restored.keptAs}` : "";
  return `restored ${path} to rev ${restored.backupRev} (committed ${restored.backupUpdatedAt}), published as rev ${restored.rev}; ${newer}${kept}`;
}

/** The PostgreSQL store's checks, then config.json and the TOTP state of this host's directory. */
async function doctorPostgres(
  context: CommandContext,
  store: Extract<StoreChoice, { kind: "postgres" }>,
  json: boolean,
): Promise<number> {
  const output = createOutput(context);
  const { inspectPostgresStore } = await import("@credpool/pool-postgres");
  const path = await resolveCliPoolPath(context);
  const findings: DoctorFinding[] = [
    ...(await inspectPostgresStore({
      url: store.url,
      schema: store.schema,
      ...(store.passwordFile === undefined ? {} : { passwordFile: store.passwordFile }),
      ...(store.ssl === undefined ? {} : { ssl: store.ssl }),
    })),
    ...(await inspectConfig({ home: dirname(path), env: context.env })),
    ...(await inspectTotp(context)),
  ];
  const failing = findings.filter((finding) => finding.severity === "error").length;
  if (json) {
    output.printJson({
      store: store.url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1@"),
      schema: store.schema,
      ok: failing === 0,
      findings: findings.map((f) => ({ check: f.check, severity: f.severity, message: f.message, fix: f.fix ?? null })),
    });
    return failing === 0 ? 0 : 1;
  }
  for (const finding of findings) {
    const mark = MARK[finding.severity];
    output.print(`${output.paint(mark.style, mark.text)}  ${finding.check}: ${finding.message}`);
    if (finding.fix) output.print(`      → ${finding.fix}`);
  }
  output.print(failing === 0 ? "\nAll store checks passed." : `\n${failing} error${failing === 1 ? "" : "s"}.`);
  return failing === 0 ? 0 : 1;
}

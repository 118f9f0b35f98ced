// The TOTP gate for privileged commands (reveal, export, add, remove, strategy): when TOTP is configured, a valid
// code is required before the command touches a secret or changes the pool. Every gated command calls
// `requireTotp` once, before doing anything, so the wiring to core's auth module lives only here.
import { userInfo } from "node:os";
import { dirname, join, resolve } from "node:path";
import {
  AUDIT_LOG_FILE_NAME,
  PoolError,
  createAuditFileSink,
  createTotpGate,
  ensurePoolGateRecord,
  loadCredpoolConfig,
  readPoolGate,
  secretReleaseOf,
  tightenTotpConfig,
  type AuditSink,
  type DoctorFinding,
  type PoolDocument,
  type TotpGate,
  type TotpGateOptions,
} from "@credpool/pool-core";
import type { CommandContext } from "./command.js";
import type { OptionSpec } from "./command.js";
import { loadCliConfig } from "./config.js";
import { canPrompt, promptLine } from "./output.js";
import { documentStoreFor, lockTimeoutFrom, resolveCliPoolPath } from "./pool-access.js";

/** Added to every gated command's options. */
export const totpCodeOption: OptionSpec = {
  type: "string",
  value: "CODE",
  description: "six-digit TOTP code when TOTP is configured (or set CREDPOOL_TOTP_CODE; asked for on a terminal)",
};

export interface GateRequest {
  /** What is being authorised, for the prompt and the audit log, e.g. "reveal anthropic/work". */
  readonly action: string;
  /** The code from --totp-code, if given. */
  readonly code: string | undefined;
}

/** Who the CLI authenticates as: failures and lockouts are counted per OS user across every credpool process. */
export function cliPrincipal(): string {
  let name: string;
  try {
    name = userInfo().username;
  } catch {
    name = String(process.getuid?.() ?? "unknown");
  }
  return `cli:${name}`;
}

const auditSinks = new Map<string, AuditSink>();

/**
 * Where this process's TOTP audit events go: appended to audit.log next to the pool (0600, JSON lines), the file
 * every credpool process shares. A failed append is reported on stderr and never changes the command's outcome.
 */
export function cliAuditSink(home: string, context: CommandContext): AuditSink {
  const path = join(home, AUDIT_LOG_FILE_NAME);
  let sink = auditSinks.get(path);
  if (!sink) {
    sink = createAuditFileSink(path, (error) => {
      context.stderr.write(`credpool: could not append to the audit log ${path}: ${(error as Error).message}\n`);
    }).sink;
    auditSinks.set(path, sink);
  }
  return sink;
}

/**
 * How to reach the TOTP gate of the pool the command works on. The pool's gate record names the protected directory
 * (config.json, totp.secret, auth-state.json, audit.log), so a hard link or symlink elsewhere leads to the same gate;
 * a pool without a record uses its own directory. CREDPOOL_TOTP_* variables may only make settings stricter than
 * that directory's config.json: the others are ignored with a warning naming them.
 */
export async function cliGateOptions(context: CommandContext): Promise<TotpGateOptions> {
  const poolPath = resolve(await resolveCliPoolPath(context));
  // With PostgreSQL the state and the gate record are shared; the secret and config.json stay in this host's home.
  const documents = await documentStoreFor(context);
  const poolGate = await readPoolGate(poolPath, documents);
  const home = documents ? dirname(poolPath) : (poolGate?.home ?? dirname(poolPath));
  // config.json alone, and with the environment: a variable counts only where it is stricter than the file.
  const [fromFile, withEnv] = await Promise.all([loadCredpoolConfig({ home, env: {} }), loadCliConfig(context, home)]);
  const { config, ignored } = tightenTotpConfig(fromFile.config.totp, withEnv.config.totp, context.env);
  for (const override of ignored) context.stderr.write(`credpool: warning: ${override.message}\n`);
  const lockTimeoutMs = lockTimeoutFrom(context.env);
  return {
    home,
    poolPath,
    poolGate,
    config,
    audit: cliAuditSink(home, context),
    ...(lockTimeoutMs === undefined ? {} : { lockTimeoutMs }),
    ...(documents === undefined ? {} : { documents }),
  };
}

async function openGate(context: CommandContext): Promise<TotpGate> {
  return createTotpGate(await cliGateOptions(context));
}

export async function requireTotp(context: CommandContext, request: GateRequest): Promise<void> {
  const options = await cliGateOptions(context);
  const gate = createTotpGate(options);
  try {
    const inspection = await gate.inspect();
    if (inspection.state === "not-configured" || inspection.state === "setup-pending") return;
    if (inspection.state === "broken") {
      throw inspection.problem ?? new PoolError("E_TOTP_STATE", "TOTP state is broken; run `credpool totp status`.");
    }
    let code = request.code ?? context.env.CREDPOOL_TOTP_CODE;
    if (code === undefined || code === "") {
      if (!canPrompt(context)) {
        throw new PoolError(
          "E_TOTP_REQUIRED",
          `\`credpool ${request.action}\` needs a TOTP code and there is no terminal to ask on: pass --totp-code CODE or set CREDPOOL_TOTP_CODE.`,
        );
      }
      code = await promptLine(context, `TOTP code for ${request.action}: `);
    }
    await gate.authorize(cliPrincipal(), { action: request.action, code });
    // A gate confirmed before this pool recorded it: record it now, so links to the pool find it too.
    if (!options.poolGate) await ensurePoolGateRecord(options);
  } finally {
    await gate.close();
  }
}

/**
 * For commands that decide which key serves (priority, reset): gated only while the pool's keys never leave
 * credpool, where steering the choice is all an agent could still do with the pool.
 */
export async function requireTotpWhenKeysStay(
  context: CommandContext,
  doc: PoolDocument,
  request: GateRequest,
): Promise<void> {
  if (secretReleaseOf(doc) === "never") await requireTotp(context, request);
}

/** TOTP findings for `credpool doctor`: configured or not, broken (and why), and whether this user is locked out. */
export async function inspectTotp(context: CommandContext): Promise<DoctorFinding[]> {
  let gate: TotpGate;
  try {
    gate = await openGate(context);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return [
      {
        check: "totp",
        severity: "error",
        message: `TOTP settings cannot be loaded: ${message}`,
        fix: "Fix config.json or the CREDPOOL_TOTP_* variables.",
      },
    ];
  }
  try {
    const status = await gate.status(cliPrincipal());
    const where =
      status.secretSource.kind === "file"
        ? `secret file ${status.secretSource.path}`
        : `secret command ${status.secretSource.command}`;
    switch (status.state) {
      case "not-configured":
        return [
          {
            check: "totp",
            severity: "ok",
            message: "not configured: reveal, export and changes to the pool need no code",
          },
        ];
      case "setup-pending":
        return [
          {
            check: "totp",
            severity: "warning",
            message: "setup was started but never confirmed, so nothing is gated yet.",
            fix: "Run `credpool totp setup --confirm CODE` with the code your authenticator shows.",
          },
        ];
      case "broken":
        return [
          {
            check: "totp",
            severity: "error",
            message: status.problem?.message ?? "TOTP state is broken; every gated command is refused.",
            fix: "Follow the message above; `credpool totp status` shows the same.",
          },
        ];
      case "configured": {
        const findings: DoctorFinding[] = [
          { check: "totp", severity: "ok", message: `configured (${where}, state ${status.statePath})` },
        ];
        if (status.block) {
          findings.push({
            check: "totp",
            severity: "warning",
            message: `${status.principal} is blocked (${status.block.reason}) for another ${Math.ceil(status.block.remainingMs / 1000)} s.`,
            fix: "Wait it out; a valid code is refused until then.",
          });
        }
        return findings;
      }
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return [{ check: "totp", severity: "error", message, fix: "Run `credpool totp status` for details." }];
  } finally {
    await gate.close();
  }
}

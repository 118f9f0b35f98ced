// Setting TOTP up and tearing it down. Setup is two steps so it works without a terminal: `begin` makes a secret
// and shows it, `confirm` proves the authenticator has it (that code counts like any other attempt).
import { randomBytes } from "node:crypto";
import { access, constants, realpath, stat } from "node:fs/promises";
import { basename, delimiter, join, resolve } from "node:path";
import type { TotpAlgorithm } from "../config/config-schema.js";
import { resolveTotpSecretSource } from "../config/load-config.js";
import { PoolError } from "../errors.js";
import { parseOptions } from "../options.js";
import { acquireFileLock } from "../store/file-lock.js";
import {
  applyAttempt,
  attemptLimitsFrom,
  createEmptyAuthState,
  findActiveBlock,
  type AttemptNotice,
  type AttemptVerdict,
  type TotpSecretKind,
} from "./auth-state.js";
import { createAuthStore } from "./auth-store.js";
import { createAuditThrottle, maskPrincipal, type AuditEvent, type AuditSink } from "./audit.js";
import { createTotpGate, poolWhere, totpGateOptionsSchema, type TotpGateOptions, type TotpInspection } from "./gate.js";
import { createLockedError, createMalformedError, createVerdictError } from "./gate-errors.js";
import { updatePoolGate } from "./pool-gate.js";
import { fingerprintSecret, readSecretFile, readTotpSecret, removeIfPresent, writeSecretFile } from "./secret-store.js";
import { buildTotpUri, findTotpStep, generateTotpSecret, isWellFormedCode } from "./verifier.js";

export interface BeginTotpSetupResult {
  /** The new secret, base32. Show it once, to the person setting up; never log it. */
  readonly secret: string;
  readonly uri: string;
  readonly label: string;
  readonly algorithm: TotpAlgorithm;
  readonly source: TotpSecretKind;
  /** File secrets: where the unconfirmed secret waits, and where it goes once confirmed. */
  readonly pendingPath?: string;
  readonly secretPath?: string;
  /** Command secrets: the command that will read it. */
  readonly command?: readonly string[];
}

export interface ConfirmTotpSetupResult {
  readonly configuredAt: number;
  readonly source: TotpSecretKind;
  readonly label?: string;
  readonly secretPath?: string;
  /** Whether the pool document now records the gate (false when there is no pool file yet). */
  readonly poolRecorded: boolean;
}

export interface ResetTotpResult {
  readonly removed: readonly string[];
  readonly source: TotpSecretKind;
  /** Set when a secret command is configured: the gate stays closed until setup is confirmed again. */
  readonly commandStillConfigured: boolean;
}

type SetupOptions = TotpGateOptions & { label?: string; principal?: string; code?: string; force?: boolean };

/** The gate's own options out of a setup call's, which adds who, the code and the label. */
function gateOptionsOf(options: SetupOptions): TotpGateOptions {
  const { label: _label, principal: _principal, code: _code, force: _force, ...gate } = options;
  return gate;
}

function settingsOf(options: SetupOptions) {
  const { config } = parseOptions(totpGateOptionsSchema, gateOptionsOf(options), "TOTP gate options");
  const source = options.secretSource ?? resolveTotpSecretSource(config, options.home);
  return { config, source, clock: options.clock ?? Date.now };
}

function pendingPathFor(secretPath: string): string {
  return `${secretPath}.pending`;
}

async function inspectOnce(options: SetupOptions, probeSecret: boolean): Promise<TotpInspection> {
  const gate = createTotpGate(gateOptionsOf(options));
  try {
    return await gate.inspect({ probeSecret });
  } finally {
    await gate.close();
  }
}

/** Generates a secret and records that setup started; refuses while a confirmed secret is in place. */
export async function beginTotpSetup(options: TotpGateOptions & { label: string }): Promise<BeginTotpSetupResult> {
  const { config, source, clock } = settingsOf(options);
  const inspection = await inspectOnce(options, false);
  if (inspection.state === "configured") {
    throw new PoolError(
      "E_CONFLICT",
      `TOTP is already set up${inspection.configuredAt ? ` (since ${new Date(inspection.configuredAt).toISOString()})` : ""}. To replace the secret, run \`credpool totp reset\` first.`,
    );
  }
  const reason = (inspection.problem?.details as { reason?: string } | undefined)?.reason;
  // A command secret is "broken" until confirmed; that is where setup starts. Any other breakage needs repair first.
  if (inspection.state === "broken" && !(source.kind === "command" && reason === "not-confirmed")) {
    throw inspection.problem ?? new PoolError("E_TOTP_STATE", "TOTP state is broken; run `credpool totp status`.");
  }
  const label = options.label.trim();
  if (label === "" || label.includes(":"))
    throw new PoolError("E_USAGE", `The label must be a non-empty name without ":", got "${label}".`);
  const secret = generateTotpSecret();
  const secretFingerprint = fingerprintSecret(secret);
  const store = createAuthStore(options);
  try {
    if (source.kind === "file") await writeSecretFile(pendingPathFor(source.path), secret, { exclusive: false });
    await store.update(
      (draft) => {
        if (draft.totp)
          throw new PoolError(
            "E_CONFLICT",
            "TOTP was set up by another process meanwhile; run `credpool totp status`.",
          );
        draft.setup = {
          startedAt: clock(),
          source: source.kind,
          algorithm: config.algorithm,
          label,
          secretFingerprint,
        };
      },
      { create: true },
    );
  } finally {
    await store.close();
  }
  return {
    secret,
    uri: buildTotpUri({ secret, label, algorithm: config.algorithm }),
    label,
    algorithm: config.algorithm,
    source: source.kind,
    ...(source.kind === "file"
      ? { pendingPath: pendingPathFor(source.path), secretPath: source.path }
      : { command: source.argv }),
  };
}

type AuditExtra = Omit<AuditEvent, "type" | "at" | "principal">;

/** Setup and reset audit every step unthrottled: each is rare, and each one matters. */
function setupAuditRecorder(
  options: { audit?: AuditSink | undefined; principal: string },
  clock: () => number,
  base: AuditExtra,
): (type: AuditEvent["type"], extra?: AuditExtra) => void {
  const audit = createAuditThrottle({ sink: options.audit, windowMs: 0, clock });
  return (type, extra = {}) =>
    audit.record({
      type,
      at: new Date(clock()).toISOString(),
      principal: maskPrincipal(options.principal),
      ...base,
      ...extra,
    });
}

/**
 * Confirms setup with a code from the authenticator. File secrets: the pending secret (or, when state was lost, the
 * secret already in place) becomes the secret. Command secrets: the command's output must be the generated secret.
 */
export async function confirmTotpSetup(
  options: TotpGateOptions & { principal: string; code: string; label?: string },
): Promise<ConfirmTotpSetupResult> {
  const { config, source, clock } = settingsOf(options);
  const record = setupAuditRecorder(options, clock, { action: "totp setup" });
  const now = clock();
  if (!isWellFormedCode(options.code)) {
    record("totp.verify.malformed");
    throw createMalformedError(options.code);
  }
  const store = createAuthStore(options);
  let promoted = false;
  try {
    const doc = await store.read();
    if (doc?.totp)
      throw new PoolError(
        "E_CONFLICT",
        "TOTP is already set up; there is nothing to confirm. `credpool totp status` shows it.",
      );
    if (options.poolGate) {
      // Confirming again would start a fresh count: exactly what deleting auth-state.json must not buy.
      throw new PoolError(
        "E_TOTP_STATE",
        `${poolWhere(options)} records a TOTP gate set up on ${new Date(options.poolGate.since).toISOString()}, but its state ${store.path} is ${doc === null ? "missing" : "not a confirmed setup"}; a setup cannot be confirmed over it. Only \`credpool totp reset --force\` at a terminal starts over.`,
        { details: { path: store.path, reason: "state-missing" } },
      );
    }
    if (!doc?.setup) {
      throw new PoolError(
        "E_TOTP_NOT_CONFIGURED",
        doc === null && source.kind === "file" && (await readSecretFile(source.path)).status === "ok"
          ? `The TOTP secret ${source.path} is in place but its state ${store.path} is missing, so past failures and lockouts are unknown; it cannot be confirmed again. \`credpool totp reset --force\` at a terminal starts over.`
          : "There is no TOTP setup to confirm; run `credpool totp setup` first.",
      );
    }
    const block = doc ? findActiveBlock(doc, options.principal, now) : undefined;
    if (block) {
      record("auth.denied", { reason: block.reason === "lockout" ? "locked-out" : "burst-limit" });
      throw createLockedError(block, now, config.burstWindowSeconds);
    }

    let secret: string;
    let fromPending = false;
    if (source.kind === "file") {
      const pending = await readSecretFile(pendingPathFor(source.path));
      if (pending.status !== "ok")
        throw new PoolError(
          "E_TOTP_NOT_CONFIGURED",
          `There is no pending TOTP secret (${pendingPathFor(source.path)}) to confirm; run \`credpool totp setup\` first.`,
        );
      secret = pending.secret;
      fromPending = true;
    } else {
      const read = await readTotpSecret(source);
      if (read.status !== "ok") throw new PoolError("E_TOTP_STATE", "The secret command returned nothing.");
      secret = read.secret;
    }
    const secretFingerprint = fingerprintSecret(secret);
    if (doc.setup.secretFingerprint !== secretFingerprint) {
      throw new PoolError(
        "E_TOTP_STATE",
        source.kind === "command"
          ? `The secret command returns a different secret from the one \`credpool totp setup\` generated at ${new Date(doc.setup.startedAt).toISOString()}. Install that secret (the lines setup printed show how), or run \`credpool totp setup\` again.`
          : `${pendingPathFor(source.path)} does not hold the secret \`credpool totp setup\` generated at ${new Date(doc.setup.startedAt).toISOString()}; run \`credpool totp setup\` again.`,
        { details: { reason: "secret-mismatch" } },
      );
    }
    const algorithm = doc.setup.algorithm;
    const label = doc.setup.label ?? options.label;
    const gateId = randomBytes(8).toString("hex");
    const step = findTotpStep({ secret, algorithm, timestamp: now, code: options.code });

    // Publish the secret before the state says "configured": a crash in between leaves a secret without its marker,
    // which reads as broken (denied), never as open.
    if (step !== null && fromPending && source.kind === "file") {
      await writeSecretFile(source.path, secret, { exclusive: true });
      promoted = true;
    }
    let outcome: { verdict: AttemptVerdict; notices: AttemptNotice[] } | undefined;
    await store.update(
      (draft) => {
        if (draft.totp)
          throw new PoolError(
            "E_CONFLICT",
            "TOTP was set up by another process meanwhile; run `credpool totp status`.",
          );
        outcome = applyAttempt(draft, { principal: options.principal, now, step, limits: attemptLimitsFrom(config) });
        if (outcome.verdict.kind === "ok") {
          draft.totp = {
            configuredAt: now,
            source: source.kind,
            algorithm,
            ...(label ? { label } : {}),
            secretFingerprint,
            gateId,
          };
          delete draft.setup;
        }
      },
      { create: true },
    );
    if (!outcome) throw new PoolError("E_TOTP_STATE", "The confirmation could not be recorded.");
    for (const notice of outcome.notices) {
      record(notice.type === "lockout.start" ? "totp.lockout.start" : "totp.lockout.end", { reason: notice.reason });
    }
    const verdict = outcome.verdict;
    if (verdict.kind !== "ok") {
      record(
        verdict.kind === "replay"
          ? "totp.verify.replay"
          : verdict.kind === "locked" && !verdict.started
            ? "auth.denied"
            : "totp.verify.fail",
      );
      throw createVerdictError(verdict, now, config);
    }
    promoted = false;
    if (fromPending && source.kind === "file") await removeIfPresent(pendingPathFor(source.path));
    record("totp.verify.ok");
    const poolRecorded = await recordGateInPool(options, { gateId, since: now });
    return {
      poolRecorded,
      configuredAt: now,
      source: source.kind,
      ...(label ? { label } : {}),
      ...(source.kind === "file" ? { secretPath: source.path } : {}),
    };
  } finally {
    // Not confirmed after all (wrong code raced in, lock lost): take the published secret back out.
    if (promoted && source.kind === "file") await removeIfPresent(source.path).catch(() => undefined);
    await store.close();
  }
}

/** The directory the pool's record names: absolute and free of symlinks, so every path to the pool agrees on it. */
async function canonicalHome(home: string): Promise<string> {
  return realpath(home).catch(() => resolve(home));
}

/** Writes the pool's gate record once TOTP is confirmed; false when there is no pool (yet). */
export async function recordGateInPool(
  options: TotpGateOptions,
  gate: { gateId: string; since: number; spentGuesses?: number },
): Promise<boolean> {
  if (options.poolPath === undefined && options.documents === undefined) return false;
  // With a shared store this is the directory of the host that set the gate up; each host keeps its own secret.
  const home = await canonicalHome(options.home);
  return updatePoolGate(
    options.poolPath ?? "",
    () => ({ kind: "totp", home, gateId: gate.gateId, since: gate.since, spentGuesses: gate.spentGuesses ?? 0 }),
    {
      ...(options.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: options.lockTimeoutMs }),
      documents: options.documents,
    },
  );
}

/**
 * For a gate confirmed before pools recorded it (or before the pool existed): names the gate in auth-state.json if
 * needed, then records it in the pool. Call only when the gate is configured and the pool has no record.
 */
export async function ensurePoolGateRecord(options: TotpGateOptions): Promise<boolean> {
  if ((options.poolPath === undefined && options.documents === undefined) || options.poolGate) return false;
  const store = createAuthStore(options);
  let gate: { gateId: string; since: number; spentGuesses: number } | undefined;
  try {
    await store.update((draft) => {
      if (!draft.totp) return;
      draft.totp.gateId ??= randomBytes(8).toString("hex");
      gate = { gateId: draft.totp.gateId, since: draft.totp.configuredAt, spentGuesses: draft.spentGuesses ?? 0 };
    });
  } finally {
    await store.close();
  }
  return gate ? recordGateInPool(options, gate) : false;
}

/**
 * Removes the TOTP secret (when it is a file), the state and the pool's gate record. With a code, the code must
 * verify; `force` skips the code: the caller makes sure a person at a terminal asked for it. With a secret command,
 * a forced reset also needs the command to succeed: whoever resets must hold the secret's own privilege. Every reset
 * and every refusal here is an audit event.
 */
export async function resetTotp(
  options: TotpGateOptions & { principal: string; code?: string; force: boolean },
): Promise<ResetTotpResult> {
  const { source, clock } = settingsOf(options);
  const record = setupAuditRecorder(options, clock, { action: "totp reset", forced: options.force });
  const gate = createTotpGate(gateOptionsOf(options));
  try {
    const inspection = await gate.inspect();
    if (!options.force && (inspection.state === "configured" || inspection.state === "broken")) {
      if (inspection.state === "broken") {
        record("totp.reset.refused", { reason: "broken-needs-force" });
        throw new PoolError(
          "E_TOTP_STATE",
          `A code cannot be checked while TOTP is broken, so reset needs --force. The problem: ${inspection.problem?.message ?? "unknown"}`,
          { details: { reason: "broken-needs-force" } },
        );
      }
      if (options.code === undefined) {
        record("totp.reset.refused", { reason: "code-required" });
        throw new PoolError(
          "E_TOTP_REQUIRED",
          "Resetting TOTP needs a valid code: pass --totp-code CODE (or set CREDPOOL_TOTP_CODE), or use --force at a terminal.",
        );
      }
      await gate.verify(options.principal, options.code, { action: "totp reset" });
    }
    if (options.force && source.kind === "command") {
      try {
        await readTotpSecret(source);
      } catch (error) {
        record("totp.reset.refused", { reason: "secret-command-failed" });
        throw new PoolError(
          "E_TOTP_STATE",
          `A forced reset needs the secret command to succeed, so that only someone with the secret's privilege can turn the gate off; it failed: ${(error as Error).message} Fix the command, or remove totp.secretCommand from config.json in ${options.home} (which takes write access to that directory).`,
          { cause: error, details: { reason: "secret-command-failed" } },
        );
      }
    }
  } finally {
    await gate.close();
  }

  if (options.documents) return resetSharedTotp(options, source, record);
  const statePath = gate.statePath;
  const candidates = [
    ...(source.kind === "file" ? [source.path, pendingPathFor(source.path)] : []),
    statePath,
    `${statePath}.bak`,
  ];
  const present = await Promise.all(
    candidates.map((path) =>
      stat(path).then(
        () => true,
        () => false,
      ),
    ),
  );
  if (!present.some(Boolean) && !options.poolGate) {
    if (source.kind === "file")
      throw new PoolError("E_TOTP_NOT_CONFIGURED", "TOTP is not configured; there is nothing to reset.");
    return { removed: [], source: source.kind, commandStillConfigured: true };
  }
  // Under the state's own lock, so a writer in flight cannot put the state back after we removed it.
  const held = await acquireFileLock(statePath, `${statePath}.lock`, {
    staleMs: options.staleMs ?? 5000,
    timeoutMs: options.lockTimeoutMs ?? 10_000,
  });
  const removed: string[] = [];
  try {
    for (const path of candidates) if (await removeIfPresent(path)) removed.push(path);
  } finally {
    await held.release();
  }
  if (options.poolGate && options.poolPath !== undefined) {
    await updatePoolGate(
      options.poolPath,
      () => undefined,
      options.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: options.lockTimeoutMs },
    );
    removed.push(`${options.poolPath} (gate record)`);
  }
  record("totp.reset", { reason: options.force ? "forced" : "code" });
  return { removed, source: source.kind, commandStillConfigured: source.kind === "command" };
}

/**
 * Reset with a shared store: the local secret files go, the shared state is emptied under the store's row lock (its
 * rev keeps rising, so no host can mistake an older copy for it), and the pool's gate record goes.
 */
async function resetSharedTotp(
  options: TotpGateOptions & { principal: string; code?: string; force: boolean },
  source: ReturnType<typeof settingsOf>["source"],
  record: ReturnType<typeof setupAuditRecorder>,
): Promise<ResetTotpResult> {
  const removed: string[] = [];
  if (source.kind === "file") {
    for (const path of [source.path, pendingPathFor(source.path)]) if (await removeIfPresent(path)) removed.push(path);
  }
  const store = createAuthStore(options);
  try {
    const before = await store.read();
    const holdsState =
      before !== null &&
      (before.totp !== undefined || before.setup !== undefined || Object.keys(before.principals).length > 0);
    if (holdsState) {
      await store.update((draft) => {
        const empty = createEmptyAuthState();
        return { ...empty, rev: draft.rev, updatedAt: draft.updatedAt };
      });
      removed.push(store.path);
    }
  } finally {
    await store.close();
  }
  const unrecorded = await updatePoolGate(options.poolPath ?? "", () => undefined, {
    ...(options.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: options.lockTimeoutMs }),
    documents: options.documents,
  });
  if (options.poolGate && unrecorded) removed.push(`${poolWhere(options)} (gate record)`);
  if (removed.length === 0) {
    if (source.kind === "file")
      throw new PoolError("E_TOTP_NOT_CONFIGURED", "TOTP is not configured; there is nothing to reset.");
    return { removed: [], source: source.kind, commandStillConfigured: true };
  }
  record("totp.reset", { reason: options.force ? "forced" : "code" });
  return { removed, source: source.kind, commandStillConfigured: source.kind === "command" };
}

async function findOnPath(program: string, env: NodeJS.ProcessEnv): Promise<string> {
  if (program.includes("/")) return program;
  for (const dir of (env.PATH ?? "/usr/bin:/bin").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, program);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return program;
}

/** sudo options that take a value, so the program to run is found after them. */
const SUDO_VALUE_OPTIONS = new Set(["-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T"]);

/**
 * The exact lines that install a command-read secret: a root-only file, and a sudoers rule that lets `user` run
 * that one command without a password. Generic advice when the command is not `sudo … cat FILE`.
 */
export async function describeSecretCommandSetup(
  argv: readonly string[],
  user: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string[]> {
  const [first, ...rest] = argv;
  if (first === undefined || basename(first) !== "sudo") {
    return [
      `Make \`${argv.join(" ")}\` print the secret shown above (one line of base32) and nothing else,`,
      "keeping it where this user cannot read it directly. Then confirm with a code.",
    ];
  }
  let runAs = "root";
  let index = 0;
  while (index < rest.length && (rest[index] ?? "").startsWith("-")) {
    const option = rest[index] ?? "";
    if (SUDO_VALUE_OPTIONS.has(option)) {
      if (option === "-u") runAs = rest[index + 1] ?? runAs;
      index += 2;
    } else {
      index += 1;
    }
  }
  const program = rest[index];
  const args = rest.slice(index + 1);
  const file = program !== undefined && basename(program) === "cat" && args.length === 1 ? args[0] : undefined;
  if (program === undefined || file === undefined) {
    return [
      `Install the secret where \`${argv.join(" ")}\` reads it, readable by ${runAs} only, and allow ${user} to run exactly that`,
      "command without a password (a sudoers line with NOPASSWD and the full program path).",
    ];
  }
  const programPath = await findOnPath(program, env);
  const dir = file.slice(0, Math.max(1, file.lastIndexOf("/")));
  const rule = `${user} ALL=(${runAs}) NOPASSWD: ${programPath} ${file}`;
  return [
    `# 1. Store the secret as ${runAs}, readable by ${runAs} only (paste the secret, press Enter, then Ctrl-D):`,
    `sudo install -d -m 0700 -o ${runAs} ${dir}`,
    `sudo sh -c 'umask 077; cat > ${file}' && sudo chown ${runAs} ${file} && sudo chmod 0600 ${file}`,
    `# 2. Let ${user} run exactly \`${argv.join(" ")}\` without a password:`,
    `echo '${rule}' | sudo tee /etc/sudoers.d/credpool-totp >/dev/null`,
    "sudo chmod 0440 /etc/sudoers.d/credpool-totp && sudo visudo -cf /etc/sudoers.d/credpool-totp",
    `# 3. Check, as ${user}: this must print the secret without asking for a password:`,
    argv.join(" "),
  ];
}

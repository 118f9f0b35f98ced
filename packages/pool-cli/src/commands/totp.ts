// `credpool totp setup|status|reset`: the TOTP gate's lifecycle. Core does the work (auth/); this module asks,
// prints and picks exit codes. Nothing prompts without a terminal: each prompt has a flag that replaces it, except
// `reset --force`, whose whole point is that a person at a terminal typed it.
import {
  PoolError,
  beginTotpSetup,
  confirmTotpSetup,
  createTotpGate,
  describeSecretCommandSetup,
  formatWait,
  isPoolError,
  maskPrincipal,
  resetTotp,
  type BeginTotpSetupResult,
  type TotpGateOptions,
  type TotpStatus,
} from "@credpool/pool-core";
import { toString as renderQrCode } from "qrcode";
import { z } from "zod";
import { defineCommand, defineCommandGroup, jsonOption, type CommandContext } from "../command.js";
import { cliGateOptions, cliPrincipal } from "../gate.js";
import { canPrompt, createOutput, promptLine, type Output } from "../output.js";

/** What `--force` must be confirmed with, typed at the terminal. */
const RESET_PHRASE = "reset totp";

/** `credpool totp status` exits with these; the README ("The TOTP gate") documents them. */
export const TOTP_STATUS_EXIT = { configured: 0, lockedOut: 10, broken: 11, notConfigured: 15 } as const;

function groupSecret(secret: string): string {
  return secret.replace(/(.{4})(?=.)/g, "$1 ");
}

async function printEnrolment(output: Output, begun: BeginTotpSetupResult, showQr: boolean): Promise<void> {
  if (showQr) {
    output.print(`Scan this with your authenticator app (issuer credpool, account ${begun.label}):\n`);
    output.print(await renderQrCode(begun.uri, { type: "terminal", small: true }));
  }
  output.print(`Secret for manual entry: ${groupSecret(begun.secret)}`);
  output.print(`(time-based, ${begun.algorithm}, 6 digits, 30 s)`);
}

async function printCommandInstall(output: Output, begun: BeginTotpSetupResult): Promise<void> {
  const command = begun.command ?? [];
  output.print(`\nThis secret is read by \`${command.join(" ")}\` (totp.secretCommand). Install it there first:\n`);
  const user = cliPrincipal().replace(/^cli:/, "");
  for (const line of await describeSecretCommandSetup(command, user)) output.print(`  ${line}`);
  output.print("\nDo not keep a copy where this user can read it; that is the point of the secret command.");
}

/** Asks for codes until one confirms setup; Enter alone leaves it pending. Returns whether it was confirmed. */
async function confirmOnTerminal(
  context: CommandContext,
  output: Output,
  totp: TotpGateOptions,
  source: "file" | "command",
): Promise<boolean> {
  const question =
    source === "command"
      ? "\nOnce it is installed, enter the code your app shows (Enter to do this later): "
      : "\nEnter the code your app shows to confirm (Enter to do this later): ";
  for (let attempt = 0; attempt < 3; attempt++) {
    const code = await promptLine(context, question);
    if (code === "") return false;
    try {
      await confirmTotpSetup({ ...totp, principal: cliPrincipal(), code });
      return true;
    } catch (error) {
      if (!isPoolError(error) || !["E_TOTP_INVALID", "E_TOTP_MALFORMED", "E_TOTP_REPLAY"].includes(error.code))
        throw error;
      output.note(`credpool: ${error.message}`);
    }
  }
  return false;
}

const setupCommand = defineCommand({
  name: "totp setup",
  usage: "credpool totp setup [--label NAME] [--confirm CODE] [--no-qr] [--json]",
  description:
    "Set up the TOTP gate in two steps. First it generates a secret, shows it as a QR code and as text, and keeps it\n" +
    "pending; then a code from your authenticator confirms it, and from then on reveal, export, add, remove,\n" +
    "strategy changes and TOTP reset need a code. On a terminal it asks for that code; without one, run it again\n" +
    "with --confirm CODE. With totp.secretCommand configured it prints the exact install and sudoers lines.\n" +
    "Refuses while TOTP is already set up (reset it first).",
  options: {
    label: {
      type: "string",
      value: "NAME",
      description: "account name shown in the authenticator (default: your user name)",
    },
    confirm: {
      type: "string",
      value: "CODE",
      description: "confirm the pending secret with a code from your authenticator",
    },
    "no-qr": { type: "boolean", description: "print the secret as text only" },
    json: jsonOption,
  },
  examples: [
    "credpool totp setup",
    "credpool totp setup --no-qr < /dev/null        # no terminal: prints the secret, then:",
    "credpool totp setup --confirm 492039",
    `echo '{"totp":{"secretCommand":["sudo","-n","cat","/etc/credpool/totp.secret"]}}' > ~/.credpool/config.json; credpool totp setup`,
  ],
  schema: z.object({
    label: z.string().trim().min(1).max(64).optional(),
    confirm: z.string().optional(),
    noQr: z.boolean().default(false),
    json: z.boolean().default(false),
  }),
  async run(input, context) {
    const output = createOutput(context);
    const totp = await cliGateOptions(context);
    if (input.confirm !== undefined) {
      const confirmed = await confirmTotpSetup({ ...totp, principal: cliPrincipal(), code: input.confirm });
      if (input.json) {
        output.printJson({
          state: "configured",
          source: confirmed.source,
          label: confirmed.label ?? null,
          configuredAt: new Date(confirmed.configuredAt).toISOString(),
          poolRecorded: confirmed.poolRecorded,
        });
      } else {
        output.print(
          `TOTP is set up${confirmed.secretPath ? ` (secret ${confirmed.secretPath})` : ""}. Privileged commands now need a code.`,
        );
        if (!confirmed.poolRecorded)
          output.print("There is no pool here yet: the pool records the gate at its first gated command.");
      }
      return 0;
    }

    const label = input.label ?? cliPrincipal().replace(/^cli:/, "");
    const begun = await beginTotpSetup({ ...totp, label });
    const install =
      begun.source === "command" ? await describeSecretCommandSetup(begun.command ?? [], label) : undefined;
    if (input.json) {
      output.printJson({
        state: "setup-pending",
        source: begun.source,
        label: begun.label,
        algorithm: begun.algorithm,
        secret: begun.secret,
        uri: begun.uri,
        pendingPath: begun.pendingPath ?? null,
        install: install ?? null,
        confirmWith: "credpool totp setup --confirm CODE",
      });
      return 0;
    }
    await printEnrolment(output, begun, !input.noQr);
    if (begun.source === "command") await printCommandInstall(output, begun);
    if (canPrompt(context) && (await confirmOnTerminal(context, output, totp, begun.source))) {
      output.print("TOTP is set up. Privileged commands now need a code.");
      return 0;
    }
    output.print(
      `\nTOTP is NOT active yet. Confirm with a code from your app:\n  credpool totp setup --confirm CODE` +
        (begun.pendingPath ? `\n(The pending secret waits in ${begun.pendingPath}.)` : ""),
    );
    return 0;
  },
});

function describeStatus(output: Output, status: TotpStatus, now: number): string[] {
  const where =
    status.secretSource.kind === "file"
      ? `file ${status.secretSource.path}`
      : `command \`${status.secretSource.command}\``;
  const lines: string[] = [];
  switch (status.state) {
    case "not-configured":
      lines.push("TOTP: not configured. Privileged commands need no code. Run `credpool totp setup` to set it up.");
      break;
    case "setup-pending":
      lines.push(
        `TOTP: not configured yet: setup started ${status.pendingSince ? new Date(status.pendingSince).toISOString() : ""} and awaits a code.`,
        "  Confirm with `credpool totp setup --confirm CODE`.",
      );
      break;
    case "broken":
      lines.push(
        `TOTP: ${output.paint("red", "broken")}; every privileged command is refused.`,
        `  ${status.problem?.message ?? "unknown problem"}`,
      );
      break;
    case "configured":
      lines.push(
        `TOTP: ${output.paint("green", "configured")}${status.configuredAt ? ` since ${new Date(status.configuredAt).toISOString()}` : ""}${status.label ? ` (account ${status.label})` : ""}.`,
      );
  }
  lines.push(`  secret: ${where}`, `  state:  ${status.statePath}`);
  if (status.state === "configured" || status.state === "broken") {
    if (status.block) {
      const what = status.block.reason === "lockout" ? "locked out" : "blocked for too many attempts";
      lines.push(
        `  you (${status.principal}): ${output.paint("yellow", what)} for ${formatWait(status.block.until - now)} more; even a valid code is refused.`,
      );
    } else {
      lines.push(
        `  you (${status.principal}): not locked out; ${status.failures} of ${status.lockoutAttempts} failed codes counted.`,
      );
    }
  }
  return lines;
}

const statusCommand = defineCommand({
  name: "totp status",
  usage: "credpool totp status [--json]",
  description:
    "Report whether TOTP is configured, not configured, or broken (and why, with the fix), and whether you are\n" +
    "locked out. A secret command is run to check it. Exit status: 0 configured, 10 configured but you are locked\n" +
    "out, 11 broken, 15 not configured (including a setup that awaits confirmation).",
  options: { json: jsonOption },
  examples: [
    "credpool totp status",
    "credpool totp status --json | jq .state",
    "credpool totp status >/dev/null && echo gated",
  ],
  schema: z.object({ json: z.boolean().default(false) }),
  async run(input, context) {
    const output = createOutput(context);
    const totp = await cliGateOptions(context);
    const gate = createTotpGate(totp);
    let status: TotpStatus;
    try {
      status = await gate.status(cliPrincipal(), { probeSecret: true });
    } finally {
      await gate.close();
    }
    const now = Date.now();
    const exit =
      status.state === "broken"
        ? TOTP_STATUS_EXIT.broken
        : status.state === "configured"
          ? status.block
            ? TOTP_STATUS_EXIT.lockedOut
            : TOTP_STATUS_EXIT.configured
          : TOTP_STATUS_EXIT.notConfigured;
    if (input.json) {
      output.printJson({
        state: status.state,
        secretSource: status.secretSource,
        statePath: status.statePath,
        configuredAt: status.configuredAt === undefined ? null : new Date(status.configuredAt).toISOString(),
        pendingSince: status.pendingSince === undefined ? null : new Date(status.pendingSince).toISOString(),
        label: status.label ?? null,
        problem: status.problem
          ? {
              code: status.problem.code,
              reason: status.problem.details?.reason ?? null,
              message: status.problem.message,
            }
          : null,
        principal: status.principal,
        failures: status.failures,
        lockoutAttempts: status.lockoutAttempts,
        block: status.block
          ? {
              reason: status.block.reason,
              until: new Date(status.block.until).toISOString(),
              remainingMs: status.block.remainingMs,
            }
          : null,
        exitCode: exit,
      });
    } else {
      output.print(describeStatus(output, status, now).join("\n"));
    }
    return exit;
  },
});

const resetCommand = defineCommand({
  name: "totp reset",
  usage: "credpool totp reset (--totp-code CODE | --force) [--json]",
  description:
    "Turn TOTP off: remove the secret file, auth-state.json (failures, lockouts, last used steps) and the pool's gate\n" +
    "record. Needs a valid code, or --force for when the authenticator is lost, you are locked out, or the state is\n" +
    `broken. --force works only at a terminal, where you type "${RESET_PHRASE}"; without one it is refused. With a\n` +
    "secret command, --force also needs that command to succeed, and the secret it reads is not ours to delete: the\n" +
    "gate stays closed until setup is confirmed again or totp.secretCommand is removed. Every reset and every refused\n" +
    "forced reset is written to audit.log.",
  options: {
    "totp-code": {
      type: "string",
      value: "CODE",
      description: "a current code (or set CREDPOOL_TOTP_CODE; asked for on a terminal)",
    },
    force: { type: "boolean", description: `reset without a code; only at a terminal, after typing "${RESET_PHRASE}"` },
    json: jsonOption,
  },
  examples: ["credpool totp reset --totp-code 492039", "credpool totp reset --force"],
  schema: z.object({
    totpCode: z.string().optional(),
    force: z.boolean().default(false),
    json: z.boolean().default(false),
  }),
  async run(input, context) {
    const output = createOutput(context);
    const totp = await cliGateOptions(context);
    let code: string | undefined;
    if (input.force) {
      if (input.totpCode !== undefined) throw new PoolError("E_USAGE", "Use either --totp-code or --force, not both.");
      const refuse = (reason: string, message: string): never => {
        totp.audit?.({
          type: "totp.reset.refused",
          at: new Date().toISOString(),
          principal: maskPrincipal(cliPrincipal()),
          action: "totp reset",
          forced: true,
          reason,
        });
        throw new PoolError("E_USAGE", message);
      };
      // A flag would let any process that can run credpool turn the gate off; typing at a terminal cannot be scripted
      // by a plain child process.
      if (!canPrompt(context)) {
        refuse(
          "no-terminal",
          "`credpool totp reset --force` needs a person at a terminal to confirm it, and there is none; nothing was changed. Run it in a terminal, or reset with --totp-code CODE.",
        );
      }
      const typed = await promptLine(
        context,
        `This removes the TOTP secret and its state. Type "${RESET_PHRASE}" to confirm: `,
      );
      if (typed.trim() !== RESET_PHRASE)
        refuse("not-confirmed", `Confirmation did not match "${RESET_PHRASE}"; nothing was changed.`);
    } else {
      code = input.totpCode ?? (context.env.CREDPOOL_TOTP_CODE || undefined);
      // Without a terminal, core decides: it asks for --totp-code only when TOTP is actually on.
      if (code === undefined && canPrompt(context))
        code = await promptLine(context, "TOTP code to confirm the reset: ");
    }
    const result = await resetTotp({
      ...totp,
      principal: cliPrincipal(),
      force: input.force,
      ...(code === undefined ? {} : { code }),
    });
    if (input.json) {
      output.printJson({
        removed: result.removed,
        source: result.source,
        gateStillClosed: result.commandStillConfigured,
      });
      return 0;
    }
    for (const path of result.removed) output.print(`removed ${path}`);
    output.print(
      result.commandStillConfigured
        ? "TOTP state is reset. totp.secretCommand is still set, so privileged commands stay refused until you run\n" +
            "`credpool totp setup` again, or remove totp.secretCommand from config.json (and the secret it reads)."
        : "TOTP is off: privileged commands no longer need a code. `credpool totp setup` turns it on again.",
    );
    return 0;
  },
});

export const { help, run } = defineCommandGroup({
  name: "totp",
  usage: "credpool totp <setup|status|reset> [options]",
  description:
    "The TOTP gate in front of reveal, export, add, remove, strategy and TOTP reset.\n\n" +
    "Subcommands:\n" +
    "  setup   generate a secret, show it as a QR code, confirm it with a code\n" +
    "  status  configured, not configured or broken; whether you are locked out\n" +
    "  reset   turn TOTP off (needs a code, or --force typed at a terminal)\n\n" +
    "Run `credpool totp <subcommand> --help` for each one's options.",
  examples: [
    "credpool totp setup",
    "credpool totp setup --confirm 492039",
    "credpool totp status",
    "credpool totp reset --totp-code 492039",
  ],
  subcommands: { setup: setupCommand, status: statusCommand, reset: resetCommand },
});

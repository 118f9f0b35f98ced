// The TOTP gate for privileged commands (reveal, export, add, remove, strategy): when TOTP is configured, a valid
// code is required before the command touches a secret or changes the pool. Every gated command calls
// `requireTotp` once, before doing anything, so the wiring to core's auth module lives only here.
import type { CommandContext } from "./cli.js";
import type { DoctorFinding } from "@credpool/pool-core";
import type { OptionSpec } from "./command.js";

/** Added to every gated command's options. */
export const totpCodeOption: OptionSpec = {
  type: "string",
  value: "CODE",
  description: "six-digit TOTP code when TOTP is configured (or set CREDPOOL_TOTP_CODE; prompted on a TTY)",
};

export interface GateRequest {
  /** What is being authorised, for the prompt and the audit log, e.g. "reveal anthropic#1". */
  readonly action: string;
  /** The code from --totp-code, if given. */
  readonly code: string | undefined;
}

export function requireTotp(_context: CommandContext, _request: GateRequest): Promise<void> {
  // Wired to pool-core's auth module once it lands (issue 5); until then TOTP cannot be configured.
  return Promise.resolve();
}

/** TOTP findings for `credpool doctor`. */
export function inspectTotp(_context: CommandContext, _poolPath: string): Promise<DoctorFinding[]> {
  return Promise.resolve([]);
}

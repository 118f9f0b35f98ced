// The one table from PoolError codes to process exit codes; `credpool --help` and the README "Exit codes" show it.
import type { PoolErrorCode } from "@credpool/pool-core";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export interface ExitCodeRow {
  readonly exit: number;
  readonly meaning: string;
  readonly codes: readonly PoolErrorCode[];
}

export const EXIT_CODE_TABLE: readonly ExitCodeRow[] = [
  { exit: EXIT_OK, meaning: "success", codes: [] },
  { exit: EXIT_FAILURE, meaning: "other failure; `doctor` found problems it did not fix", codes: [] },
  {
    exit: EXIT_USAGE,
    meaning: "usage: bad arguments, a secret on argv, no TTY to prompt on",
    codes: ["E_USAGE", "E_INVALID_OPTIONS", "E_INVALID_INPUT"],
  },
  {
    exit: 3,
    meaning: "not found: no such credential or lease, or an ambiguous target",
    codes: ["E_NOT_FOUND", "E_AMBIGUOUS"],
  },
  { exit: 4, meaning: "no pool at that path (run `credpool init`)", codes: ["E_POOL_NOT_FOUND"] },
  { exit: 5, meaning: "no credential available (all exhausted, dead or busy)", codes: ["E_NO_CREDENTIAL"] },
  {
    exit: 6,
    meaning: "lock timeout: another process held the pool lock too long",
    codes: ["E_LOCK_TIMEOUT", "E_LOCK_COMPROMISED"],
  },
  {
    exit: 7,
    meaning: "corrupt or invalid pool file (see `credpool doctor`)",
    codes: ["E_POOL_CORRUPT", "E_POOL_INVALID"],
  },
  { exit: 8, meaning: "I/O error: permissions, read-only directory, disk full", codes: ["E_POOL_IO"] },
  {
    exit: 9,
    meaning: "TOTP required or the code was wrong, malformed or replayed",
    codes: ["E_TOTP_REQUIRED", "E_TOTP_INVALID", "E_TOTP_REPLAY", "E_TOTP_MALFORMED"],
  },
  { exit: 10, meaning: "TOTP locked out after too many failures", codes: ["E_TOTP_LOCKED"] },
  { exit: 11, meaning: "TOTP state or secret unreadable or unsafe (fails closed)", codes: ["E_TOTP_STATE"] },
  { exit: 12, meaning: "token refresh failed", codes: ["E_REFRESH_FAILED"] },
  { exit: 13, meaning: "conflict, e.g. a label already in use", codes: ["E_CONFLICT"] },
  { exit: 14, meaning: "an external credential source could not be read or written", codes: ["E_SOURCE"] },
  {
    exit: 15,
    meaning: "TOTP is not configured (`totp status`; `totp reset` with nothing to reset)",
    codes: ["E_TOTP_NOT_CONFIGURED"],
  },
  {
    exit: 16,
    meaning: "the pool's keys never leave credpool (`secrets release never`): no lease or exec",
    codes: ["E_SECRETS_NEVER_RELEASED"],
  },
  {
    exit: 17,
    meaning: "login failed: refused, denied, expired, timed out, cancelled or a state mismatch",
    codes: ["E_LOGIN_FAILED"],
  },
  {
    exit: 18,
    meaning: "the database store (PostgreSQL) was unreachable, dropped the connection, timed out or refused a commit",
    codes: ["E_STORE_UNAVAILABLE", "E_STORE_CONNECTION_LOST", "E_STORE_TIMEOUT", "E_STORE_CONFLICT"],
  },
];

const EXIT_CODES: Partial<Record<PoolErrorCode, number>> = Object.fromEntries(
  EXIT_CODE_TABLE.flatMap((row) => row.codes.map((code) => [code, row.exit])),
);

export function exitCodeFor(code: PoolErrorCode): number {
  return EXIT_CODES[code] ?? EXIT_FAILURE;
}

// The one table from PoolError codes to process exit codes; README "Exit codes" documents it.
import type { PoolErrorCode } from "@credpool/pool-core";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

const EXIT_CODES: Partial<Record<PoolErrorCode, number>> = {
  E_USAGE: EXIT_USAGE,
  E_INVALID_OPTIONS: EXIT_USAGE,
  E_INVALID_INPUT: EXIT_USAGE,
  E_NOT_FOUND: 3,
  E_AMBIGUOUS: 3,
  E_POOL_NOT_FOUND: 4,
  E_NO_CREDENTIAL: 5,
  E_LOCK_TIMEOUT: 6,
  E_LOCK_COMPROMISED: 6,
  E_POOL_CORRUPT: 7,
  E_POOL_INVALID: 7,
  E_POOL_IO: 8,
  E_TOTP_REQUIRED: 9,
  E_TOTP_INVALID: 9,
  E_TOTP_REPLAY: 9,
  E_TOTP_MALFORMED: 9,
  E_TOTP_LOCKED: 10,
  E_TOTP_STATE: 11,
  E_REFRESH_FAILED: 12,
};

export function exitCodeFor(code: PoolErrorCode): number {
  return EXIT_CODES[code] ?? EXIT_FAILURE;
}

// A credpool home with TOTP already confirmed, without spending a time step on the confirmation (which setup would
// do), so tests can use the current code. Also picks codes that are certainly wrong near a given time.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  AUTH_STATE_FILE_NAME,
  authStateDocumentSpec,
  createDocumentFileBackend,
  fingerprintSecret,
  generateTotpCode,
} from "@credpool/pool-core";
import { type AuthStateDocument } from "../../src/auth/index.js";

/** RFC 6238's SHA1 seed, "12345678901234567890", as base32. */
export const TEST_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

export interface SeededTotp {
  readonly home: string;
  readonly secretPath: string;
  readonly statePath: string;
}

export async function seedConfiguredTotp(home: string, secret = TEST_SECRET): Promise<SeededTotp> {
  const secretPath = join(home, "totp.secret");
  const statePath = join(home, AUTH_STATE_FILE_NAME);
  await writeFile(secretPath, `${secret}\n`, { mode: 0o600 });
  const backend = createDocumentFileBackend(authStateDocumentSpec, { path: statePath });
  await backend.update((draft) => {
    draft.totp = {
      configuredAt: Date.now(),
      source: "file",
      algorithm: "SHA1",
      label: "tester",
      secretFingerprint: fingerprintSecret(secret),
    };
  });
  await backend.close();
  return { home, secretPath, statePath };
}

export async function readAuthState(statePath: string): Promise<AuthStateDocument> {
  const backend = createDocumentFileBackend(authStateDocumentSpec, { path: statePath, createIfMissing: false });
  try {
    return (await backend.read()).doc;
  } finally {
    await backend.close();
  }
}

export function codeAt(timestamp: number, secret = TEST_SECRET): string {
  return generateTotpCode({ secret, algorithm: "SHA1", timestamp });
}

/** `count` distinct codes that match no step within ±2 of `timestamp`, so they stay wrong while a test runs. */
export function wrongCodes(count: number, timestamp: number, secret = TEST_SECRET): string[] {
  const valid = new Set([-2, -1, 0, 1, 2].map((offset) => codeAt(timestamp + offset * 30_000, secret)));
  const codes: string[] = [];
  for (let n = 0; codes.length < count; n++) {
    const code = String(n * 7919)
      .padStart(6, "0")
      .slice(-6);
    if (!valid.has(code) && !codes.includes(code)) codes.push(code);
  }
  return codes;
}

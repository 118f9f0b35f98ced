// Free text that others will read (stored status messages, logs, API output, terminals): known secrets replaced by
// exact value, key-like strings scrubbed, control characters removed. See packages/pool-cli/test/untrusted-text.test.ts.
import type { CredentialSecrets } from "../store/schema.js";

export const REDACTED = "[redacted]";

/** Shorter values are not redacted by value: replacing every "ok" would garble messages and protect nothing. */
const MIN_REDACTED_LENGTH = 6;

// C0 controls (but \n and \t, handled below), DEL and C1 controls. ESC (\x1b) is C0.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;
// eslint-disable-next-line no-control-regex
const CONTROL_OR_NEWLINE = /[\x00-\x1f\x7f-\x9f]/g;

/** The second layer, for secrets credpool does not hold: anything that looks like a key or token. */
export function scrubMessage(message: string | undefined): string | undefined {
  if (!message) return undefined;
  return message
    .replace(/\b(sk|rk|pk)-[A-Za-z0-9_-]{6,}/g, "[redacted]")
    .replace(/\beyJ[A-Za-z0-9_-]{10,}(\.[A-Za-z0-9_-]+){0,2}/g, "[redacted]")
    .replace(/\b[A-Za-z0-9_-]{32,}\b/g, "[redacted]")
    .slice(0, 300);
}

// Whole escape sequences go first, so no printable remains ("]0;title", "[2J") are left behind: OSC (ESC ] or
// C1 0x9d, up to BEL or ST), CSI (ESC [ or C1 0x9b, up to its final byte), and any other two-byte ESC sequence.
const ESCAPE_SEQUENCE =
  // eslint-disable-next-line no-control-regex
  /(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?|\x1b[ -~]?/g;

/** Every secret a credential holds: what must never appear in text anyone else reads. */
export function secretValuesOf(secrets: CredentialSecrets | undefined): string[] {
  if (!secrets) return [];
  return [secrets.apiKey, secrets.accessToken, secrets.refreshToken, secrets.idToken].filter(
    (value): value is string => typeof value === "string",
  );
}

/** Replaces each of `values` wherever it appears in `text`, also URL-encoded or JSON-escaped, longest first. */
export function redactValues(text: string, values: Iterable<string | undefined>): string {
  const needles = new Set<string>();
  for (const value of values) {
    if (typeof value !== "string" || value.length < MIN_REDACTED_LENGTH) continue;
    needles.add(value);
    needles.add(encodeURIComponent(value));
    needles.add(JSON.stringify(value).slice(1, -1));
  }
  let result = text;
  for (const needle of [...needles].sort((a, b) => b.length - a.length)) {
    if (needle.length >= MIN_REDACTED_LENGTH) result = result.split(needle).join(REDACTED);
  }
  return result;
}

/**
 * Removes control characters (C0, DEL, C1) that could drive a terminal: a window title, a clipboard write, a
 * screen clear. A tab becomes a space; newlines stay only where `multiline` says they belong.
 */
export function stripControlCharacters(text: string, { multiline = false }: { multiline?: boolean } = {}): string {
  const withoutTabs = text.replace(ESCAPE_SEQUENCE, "").replace(/\t/g, " ");
  return withoutTabs.replace(multiline ? CONTROL : CONTROL_OR_NEWLINE, "");
}

/** A single-line label, model name or holder as stored: no control characters. */
export function sanitizeLabelText(text: string): string {
  return stripControlCharacters(text);
}

/**
 * A message from outside (a provider error, a token endpoint body, a client's release report) as it may be stored
 * and shown: known secrets out by value, key-like strings scrubbed, control characters removed, at most 300 chars.
 */
export function sanitizeMessage(
  message: string | undefined,
  secrets: Iterable<string | undefined> = [],
): string | undefined {
  if (message === undefined) return undefined;
  const cleaned = stripControlCharacters(redactValues(message, secrets), { multiline: true });
  return scrubMessage(cleaned);
}

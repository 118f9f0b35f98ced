// TOTP arithmetic (RFC 6238 through otpauth): which time step a code belongs to, within ±1 step of now.
import { Secret, TOTP } from "otpauth";
import type { TotpAlgorithm } from "../config/config-schema.js";

export const TOTP_ISSUER = "credpool";
export const TOTP_DIGITS = 6;
export const TOTP_PERIOD_SECONDS = 30;
/** Steps either side of now that still count: clocks drift and people type slowly. */
export const TOTP_WINDOW = 1;

/** 20 random bytes (160 bits, RFC 4226's recommendation) as base32. */
export const TOTP_SECRET_BYTES = 20;
/** RFC 4226 requires at least 128 bits; anything shorter is a truncated or foreign secret. */
const MIN_SECRET_BYTES = 16;

/**
 * Only exactly six ASCII digits are a code. `\d` is not used on purpose: with the `u` and `v` flags elsewhere it is
 * easy to end up matching other scripts' digits (e.g. Arabic-Indic), which must never count as an attempt.
 */
export function isWellFormedCode(input: unknown): input is string {
  return typeof input === "string" && /^[0-9]{6}$/.test(input);
}

/** Why an input is not a code, for a hint that does not echo it back. */
export function describeMalformedCode(input: unknown): string {
  if (typeof input !== "string" || input.length === 0) return "no code was given";
  if (/\s/.test(input)) return "it contains spaces; type the six digits with nothing between them";
  if (/^[0-9]+$/.test(input)) return `it has ${input.length} digit${input.length === 1 ? "" : "s"}, not 6`;
  if (/^\p{Nd}+$/u.test(input)) return "it uses digits other than 0-9; type ASCII digits";
  return "it is not six digits";
}

export function generateTotpSecret(): string {
  // otpauth draws the bytes from node:crypto.
  return new Secret({ size: TOTP_SECRET_BYTES }).base32;
}

/** Normalises a stored base32 secret, or explains why it cannot be one (never quoting it). */
export function parseBase32Secret(text: string): { ok: true; secret: string } | { ok: false; problem: string } {
  const secret = text.replace(/\s+/g, "").replace(/=+$/, "").toUpperCase();
  if (secret.length === 0) return { ok: false, problem: "it is empty" };
  if (!/^[A-Z2-7]+$/.test(secret)) return { ok: false, problem: "it is not base32 (letters A-Z and digits 2-7)" };
  const bytes = Math.floor((secret.length * 5) / 8);
  if (bytes < MIN_SECRET_BYTES) {
    return {
      ok: false,
      problem: `it holds only ${bytes} bytes, fewer than the ${MIN_SECRET_BYTES} a TOTP secret needs (partial write?)`,
    };
  }
  return { ok: true, secret };
}

export function currentTotpStep(now: number): number {
  return TOTP.counter({ period: TOTP_PERIOD_SECONDS, timestamp: now });
}

export interface TotpCodeInput {
  readonly secret: string;
  readonly algorithm: TotpAlgorithm;
  readonly timestamp: number;
  /** 6 everywhere in credpool; the RFC 6238 vectors use 8. */
  readonly digits?: number;
}

export function generateTotpCode(input: TotpCodeInput): string {
  return TOTP.generate({
    secret: Secret.fromBase32(input.secret),
    algorithm: input.algorithm,
    digits: input.digits ?? TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
    timestamp: input.timestamp,
  });
}

/** The step `code` was generated for, if it is within ±1 step of `timestamp`; compared in constant time. */
export function findTotpStep(input: TotpCodeInput & { readonly code: string }): number | null {
  const delta = TOTP.validate({
    token: input.code,
    secret: Secret.fromBase32(input.secret),
    algorithm: input.algorithm,
    digits: input.digits ?? TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
    timestamp: input.timestamp,
    window: TOTP_WINDOW,
  });
  return delta === null ? null : currentTotpStep(input.timestamp) + delta;
}

/** The otpauth:// URI an authenticator app scans: issuer credpool, the user as label. */
export function buildTotpUri(input: { secret: string; label: string; algorithm: TotpAlgorithm }): string {
  return new TOTP({
    issuer: TOTP_ISSUER,
    label: input.label,
    secret: Secret.fromBase32(input.secret),
    algorithm: input.algorithm,
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
  }).toString();
}

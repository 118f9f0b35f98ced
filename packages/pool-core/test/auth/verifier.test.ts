// The verifier against RFC 6238's own test vectors, its ±1-step window, and what counts as a code at all.
import { describe, expect, it } from "vitest";
import { generateTotpCode } from "@credpool/pool-core";
import { findTotpStep, isWellFormedCode, parseBase32Secret } from "../../src/auth/index.js";
import { type TotpAlgorithm } from "../../src/config/index.js";

/** RFC 4648 base32, written out here so the vectors do not depend on the library under test. */
function toBase32(text: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const byte of Buffer.from(text, "latin1")) bits += byte.toString(2).padStart(8, "0");
  let out = "";
  for (let i = 0; i < bits.length; i += 5) out += alphabet[parseInt(bits.slice(i, i + 5).padEnd(5, "0"), 2)];
  return out;
}

// RFC 6238 appendix B: each algorithm has its own seed (20, 32 and 64 bytes of "1234567890...").
const SEEDS: Record<TotpAlgorithm, string> = {
  SHA1: toBase32("12345678901234567890"),
  SHA256: toBase32("12345678901234567890123456789012"),
  SHA512: toBase32("1234567890123456789012345678901234567890123456789012345678901234"),
};

const VECTORS: ReadonlyArray<[number, string, TotpAlgorithm]> = [
  [59, "94287082", "SHA1"],
  [59, "46119246", "SHA256"],
  [59, "90693936", "SHA512"],
  [1111111109, "07081804", "SHA1"],
  [1111111109, "68084774", "SHA256"],
  [1111111109, "25091201", "SHA512"],
  [1111111111, "14050471", "SHA1"],
  [1111111111, "67062674", "SHA256"],
  [1111111111, "99943326", "SHA512"],
  [1234567890, "89005924", "SHA1"],
  [1234567890, "91819424", "SHA256"],
  [1234567890, "93441116", "SHA512"],
  [2000000000, "69279037", "SHA1"],
  [2000000000, "90698825", "SHA256"],
  [2000000000, "38618901", "SHA512"],
  [20000000000, "65353130", "SHA1"],
  [20000000000, "77737706", "SHA256"],
  [20000000000, "47863826", "SHA512"],
];

describe("RFC 6238 test vectors", () => {
  it.each(VECTORS)("at T=%i generates %s with %s and its own seed", (seconds, expected, algorithm) => {
    expect(generateTotpCode({ secret: SEEDS[algorithm], algorithm, timestamp: seconds * 1000, digits: 8 })).toBe(
      expected,
    );
  });

  it.each(VECTORS)("at T=%i accepts the six-digit form of %s (%s) for its own step", (seconds, expected, algorithm) => {
    const step = Math.floor(seconds / 30);
    expect(
      findTotpStep({ secret: SEEDS[algorithm], algorithm, timestamp: seconds * 1000, code: expected.slice(-6) }),
    ).toBe(step);
  });

  it("does not accept a SHA1 vector under SHA256, or with another algorithm's seed", () => {
    expect(findTotpStep({ secret: SEEDS.SHA1, algorithm: "SHA256", timestamp: 59_000, code: "287082" })).toBeNull();
    expect(findTotpStep({ secret: SEEDS.SHA256, algorithm: "SHA1", timestamp: 59_000, code: "287082" })).toBeNull();
  });
});

describe("window", () => {
  const secret = SEEDS.SHA1;
  const now = 1_700_000_015_000;
  const codeFor = (offsetSteps: number): string =>
    generateTotpCode({ secret, algorithm: "SHA1", timestamp: now + offsetSteps * 30_000 });
  const stepNow = Math.floor(now / 30_000);

  it("accepts the previous step's code and reports that step", () => {
    expect(findTotpStep({ secret, algorithm: "SHA1", timestamp: now, code: codeFor(-1) })).toBe(stepNow - 1);
  });

  it("accepts the current and the next step's codes", () => {
    expect(findTotpStep({ secret, algorithm: "SHA1", timestamp: now, code: codeFor(0) })).toBe(stepNow);
    expect(findTotpStep({ secret, algorithm: "SHA1", timestamp: now, code: codeFor(1) })).toBe(stepNow + 1);
  });

  it("rejects a code from two steps back or two steps ahead", () => {
    expect(findTotpStep({ secret, algorithm: "SHA1", timestamp: now, code: codeFor(-2) })).toBeNull();
    expect(findTotpStep({ secret, algorithm: "SHA1", timestamp: now, code: codeFor(2) })).toBeNull();
  });
});

describe("what counts as a code", () => {
  it("counts exactly six ASCII digits", () => {
    expect(isWellFormedCode("123456")).toBe(true);
    expect(isWellFormedCode("000000")).toBe(true);
  });

  it.each([
    ["five digits", "12345"],
    ["seven digits", "1234567"],
    ["Arabic-Indic digits", "١٢٣٤٥٦"],
    ["fullwidth digits", "１２３４５６"],
    ["an inner space", "12 345"],
    ["surrounding spaces", " 123456 "],
    ["a trailing newline", "123456\n"],
    ["the empty string", ""],
  ])("does not count %s", (_name, input) => {
    expect(isWellFormedCode(input)).toBe(false);
  });
});

describe("stored secrets", () => {
  it("accepts a 20-byte base32 secret in any case, with padding and a newline", () => {
    expect(parseBase32Secret(`${SEEDS.SHA1.toLowerCase()}==\n`)).toEqual({ ok: true, secret: SEEDS.SHA1 });
  });

  it("rejects a truncated secret as partial and never echoes it", () => {
    const result = parseBase32Secret(SEEDS.SHA1.slice(0, 20));
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.problem).toMatch(/partial/);
      expect(result.problem).not.toContain(SEEDS.SHA1.slice(0, 8));
    }
  });
});

import { describe, expect, it } from "vitest";
import { randomId } from "../src/ids.js";

describe("randomId", () => {
  it("gives distinct ids of the asked length from the unambiguous alphabet, across many buffer refills", () => {
    const ids = new Set<string>();
    // 4096 bytes of entropy serve about 400 ten-character ids, so this crosses dozens of refills.
    for (let i = 0; i < 20_000; i++) {
      const id = randomId(10);
      expect(id).toMatch(/^[0-9a-hjkmnp-tv-z]{10}$/);
      ids.add(id);
    }
    expect(ids.size).toBe(20_000);
    expect(randomId(3)).toHaveLength(3);
  });

  it("uses every character of the alphabet about equally", () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 8000; i++) for (const char of randomId(8)) counts.set(char, (counts.get(char) ?? 0) + 1);
    expect(counts.size).toBe(32);
    // 64 000 characters over 32 symbols: 2000 each expected; a bias (or a stuck buffer) is far outside ±15%.
    for (const count of counts.values()) expect(Math.abs(count - 2000)).toBeLessThan(300);
  });
});

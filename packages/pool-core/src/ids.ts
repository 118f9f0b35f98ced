// Random ids for credentials and leases: short, URL-safe, unambiguous base32.
import { randomFillSync } from "node:crypto";

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
// One CSPRNG call per few hundred ids: a call per lease (and OpenSSL's fork check, a getpid each time) was a
// measurable share of the gateway's lease path (bench/groups/gateway.mjs).
const entropy = Buffer.alloc(4096);
let offset = entropy.length;

/** `length` characters from the CSPRNG; each character carries 5 bits (a byte mod 32 has no bias). */
export function randomId(length: number): string {
  if (offset + length > entropy.length) {
    randomFillSync(entropy);
    offset = 0;
  }
  let out = "";
  for (let i = 0; i < length; i++) out += ALPHABET[(entropy[offset + i] ?? 0) & 31];
  // Consumed bytes are zeroed so nothing in memory could later reveal an id handed out earlier.
  entropy.fill(0, offset, offset + length);
  offset += length;
  return out;
}

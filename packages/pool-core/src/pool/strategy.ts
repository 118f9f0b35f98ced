// The five selection strategies. Each is a pure choice over an ordered candidate list.
import { randomInt } from "node:crypto";
import type { Credential, Strategy } from "../store/schema.js";

export interface StrategyInput {
  /** All credentials of the provider in list order (priority, then insertion). */
  readonly ordered: readonly Credential[];
  readonly isAvailable: (credential: Credential) => boolean;
  /** The shared round-robin cursor, as committed (round-robin leases advance it in their own transaction). */
  readonly cursor: number;
  /** Request count including this process's unflushed usage. */
  readonly requestsOf: (credential: Credential) => number;
  /** A credential id to take when it is available (session affinity); otherwise the strategy chooses. */
  readonly prefer?: string | undefined;
  /** Share left in the credential's tightest current quota window (0..1), undefined when unknown. */
  readonly headroomOf?: (credential: Credential) => number | undefined;
}

export interface StrategyChoice {
  readonly credential: Credential;
  /** How far the round-robin cursor moves when this choice is used. */
  readonly cursorAdvance: number;
}

export function orderCredentials(credentials: readonly Credential[]): Credential[] {
  return credentials
    .map((credential, index) => ({ credential, index }))
    .sort((a, b) => a.credential.priority - b.credential.priority || a.index - b.index)
    .map((entry) => entry.credential);
}

export function chooseCredential(strategy: Strategy, input: StrategyInput): StrategyChoice | undefined {
  const { ordered, isAvailable } = input;
  if (input.prefer !== undefined) {
    const preferred = ordered.find((credential) => credential.id === input.prefer);
    // Not a strategy pick: the round-robin cursor stays where it is for the requests that have no preference.
    if (preferred && isAvailable(preferred)) return { credential: preferred, cursorAdvance: 0 };
  }
  switch (strategy) {
    case "fill_first": {
      const credential = ordered.find(isAvailable);
      return credential ? { credential, cursorAdvance: 0 } : undefined;
    }
    case "round_robin": {
      const count = ordered.length;
      if (count === 0) return undefined;
      const start = input.cursor % count;
      for (let step = 0; step < count; step++) {
        const credential = ordered[(start + step) % count];
        // Advance past skipped ones too, so the next pick continues after the one used.
        if (credential && isAvailable(credential)) return { credential, cursorAdvance: step + 1 };
      }
      return undefined;
    }
    case "least_used": {
      let best: Credential | undefined;
      let bestCount = Infinity;
      for (const credential of ordered) {
        if (!isAvailable(credential)) continue;
        const count = input.requestsOf(credential);
        if (count < bestCount) {
          best = credential;
          bestCount = count;
        }
      }
      return best ? { credential: best, cursorAdvance: 0 } : undefined;
    }
    case "headroom": {
      // Most quota left in the tightest window wins; a credential with no known window counts as untouched but
      // yields to a known one with as much left, and equal ones keep list (priority) order.
      let best: Credential | undefined;
      let bestRoom = -1;
      let bestKnown = false;
      for (const credential of ordered) {
        if (!isAvailable(credential)) continue;
        const known = input.headroomOf?.(credential);
        const room = known ?? 1;
        if (room > bestRoom || (room === bestRoom && known !== undefined && !bestKnown)) {
          best = credential;
          bestRoom = room;
          bestKnown = known !== undefined;
        }
      }
      return best ? { credential: best, cursorAdvance: 0 } : undefined;
    }
    case "random": {
      const available = ordered.filter(isAvailable);
      if (available.length === 0) return undefined;
      const credential = available[randomInt(available.length)];
      return credential ? { credential, cursorAdvance: 0 } : undefined;
    }
  }
}

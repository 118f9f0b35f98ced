// Leases the gateway handed out, by id, so release and renew can find them. Lapsed ones are swept.
import type { Lease } from "@credpool/pool-core";

interface Held {
  readonly lease: Lease;
  readonly clientId: string;
}

export interface LeaseRegistry {
  add(lease: Lease, clientId: string): void;
  get(id: string): Held | undefined;
  delete(id: string): void;
  readonly size: number;
  /** Releases every held lease (shutdown). */
  releaseAll(): Promise<void>;
  stop(): void;
}

export function createLeaseRegistry(sweepIntervalMs = 5000): LeaseRegistry {
  const held = new Map<string, Held>();
  const timer = setInterval(() => {
    const now = Date.now();
    for (const [id, entry] of held) {
      if (entry.lease.leaseExpiresAt <= now) {
        held.delete(id);
        // A holder that vanished tells us nothing about the credential's health.
        void entry.lease.release("ok").catch(() => undefined);
      }
    }
  }, sweepIntervalMs);
  timer.unref();
  return {
    add: (lease, clientId) => held.set(lease.id, { lease, clientId }),
    get: (id) => held.get(id),
    delete: (id) => held.delete(id),
    get size() {
      return held.size;
    },
    async releaseAll() {
      const entries = [...held.values()];
      held.clear();
      await Promise.allSettled(entries.map((entry) => entry.lease.release("ok")));
    },
    stop: () => clearInterval(timer),
  };
}

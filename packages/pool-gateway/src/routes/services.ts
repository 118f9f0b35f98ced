// What the routes share: the pool, the lease registry, metrics, the logger and the admin gate.
import type { LoginProfile, Pool } from "@credpool/pool-core";
import type { Logger } from "pino";
import type { LeaseRegistry } from "../lease-registry.js";
import type { GatewayMetrics } from "../metrics.js";

/** The TOTP side of the admin API. Absent when TOTP is not configured. */
export interface AdminGate {
  /**
   * Verifies a code for `principal` and opens a session owned by the client token `tokenId`; resolves to the
   * session token.
   */
  openSession(principal: string, code: string, tokenId: string): Promise<{ sessionToken: string; expiresAt: number }>;
  /**
   * Whether `sessionToken` is a live session opened by the client token `tokenId` (touching it extends the idle
   * timeout). Another token presenting it gets false: a session proves a code was typed for that token only.
   */
  checkSession(sessionToken: string, tokenId: string): boolean;
  /** Resolves false when TOTP is not configured; rejects (fail closed) when its state is broken. */
  isConfigured(): Promise<boolean>;
}

export interface GatewayServices {
  readonly pool: Pool;
  readonly leases: LeaseRegistry;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly gate: AdminGate | undefined;
  readonly requireAdminSession: boolean;
  readonly state: { adminAuthenticated: boolean };
  /** Resolves a provider's login settings (config.json and CREDPOOL_* variables); absent: no login routes. */
  readonly loginProfile: ((provider: string) => LoginProfile) | undefined;
}

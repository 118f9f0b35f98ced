// Leases: the handle a caller holds while it uses a credential, this process's table of the leases it gave out,
// and the lease records a capped (or persisted) lease keeps in the document so the cap holds across processes.
import { PoolError } from "../errors.js";
import type { PoolBackend } from "../store/index.js";
import type { Credential, LeaseRecord, PoolDocument } from "../store/schema.js";
import type { FailureReport } from "./health.js";
import { getProviderDefaults } from "./providers.js";
import { findCredential, listCredentials } from "./targets.js";

export type LeaseOutcome = "ok" | { error: FailureReport };

export interface LocalLease {
  readonly id: string;
  readonly provider: string;
  readonly credentialId: string;
  readonly startedAt: number;
  expiresAt: number;
  readonly persisted: boolean;
  /** Outlives this process's close(); see LeaseOptions.detached. */
  readonly detached?: boolean;
  readonly model: string | undefined;
  released: boolean;
}

export interface LeaseControl {
  renew(local: LocalLease, ttlMs?: number): Promise<void>;
  release(local: LocalLease, outcome: LeaseOutcome): Promise<void>;
}

/**
 * A lease as handed out (exported as a type only: leases come from `Pool.lease`). A class rather than an object
 * literal: one is built per lease, and a literal with a getter cost more than all the rest of building it.
 * Private fields keep the bookkeeping out of JSON.
 */
class Lease {
  readonly id: string;
  readonly provider: string;
  readonly credentialId: string;
  readonly label: string;
  readonly kind: Credential["kind"];
  readonly baseUrl: string | undefined;
  /** The API key or access token to send. Never a refresh token. */
  readonly token: string;
  readonly tokenType: "api_key" | "bearer";
  /** When the access token itself expires, if known. */
  readonly expiresAt: number | undefined;
  readonly startedAt: number;
  readonly model: string | undefined;
  /** Whether the lease is recorded in the document (capped credentials) or only in this process. */
  readonly persisted: boolean;
  readonly #local: LocalLease;
  readonly #control: LeaseControl;

  constructor(credential: Credential, token: string, local: LocalLease, control: LeaseControl) {
    this.id = local.id;
    this.provider = credential.provider;
    this.credentialId = credential.id;
    this.label = credential.label;
    this.kind = credential.kind;
    this.baseUrl = credential.baseUrl ?? getProviderDefaults(credential.provider).baseUrl;
    this.token = token;
    this.tokenType = credential.kind === "api_key" ? "api_key" : "bearer";
    this.expiresAt = credential.secrets.expiresAt;
    this.startedAt = local.startedAt;
    this.model = local.model;
    this.persisted = local.persisted;
    this.#local = local;
    this.#control = control;
  }

  get leaseExpiresAt(): number {
    return this.#local.expiresAt;
  }

  renew(ttlMs?: number): Promise<void> {
    return this.#control.renew(this.#local, ttlMs);
  }

  release(outcome: LeaseOutcome = "ok"): Promise<void> {
    return this.#control.release(this.#local, outcome);
  }
}

export type { Lease };

function tokenOf(credential: Credential): string | undefined {
  return credential.kind === "api_key" ? credential.secrets.apiKey : credential.secrets.accessToken;
}

export function buildLease(credential: Credential, local: LocalLease, control: LeaseControl): Lease {
  const token = tokenOf(credential);
  if (!token) {
    throw new PoolError(
      "E_NO_CREDENTIAL",
      `Credential ${credential.label} (${credential.id}) has no usable token; run \`credpool refresh ${credential.id}\`.`,
    );
  }
  return new Lease(credential, token, local, control);
}

/** The leases this process gave out and has not released yet. */
export interface LocalLeases {
  readonly byId: Map<string, LocalLease>;
  /** Leases this process holds that `doc` does not show yet (persisted ones appear once committed). */
  readonly extraLeasesOf: (credential: Credential, doc: PoolDocument) => number;
}

export function createLocalLeases(): LocalLeases {
  const byId = new Map<string, LocalLease>();
  return {
    byId,
    extraLeasesOf: (credential, doc) => {
      if (credential.maxConcurrent === undefined) return 0;
      const recorded = new Set((findCredential(doc, credential.id)?.leases ?? []).map((lease) => lease.id));
      let extra = 0;
      for (const lease of byId.values()) {
        if (lease.credentialId === credential.id && lease.persisted && !recorded.has(lease.id)) extra++;
      }
      return extra;
    },
  };
}

export function addLeaseRecord(credential: Credential, record: LeaseRecord): void {
  credential.leases = [...(credential.leases ?? []), record];
}

export function removeLeaseRecord(doc: PoolDocument, local: LocalLease): void {
  const credential = findCredential(doc, local.credentialId);
  if (credential?.leases) credential.leases = credential.leases.filter((lease) => lease.id !== local.id);
}

/** Removes the record of lease `leaseId`, whichever process took it; undefined when there is none. */
export function takeLeaseRecord(
  doc: PoolDocument,
  leaseId: string,
): { credential: Credential; record: LeaseRecord } | undefined {
  for (const credential of listCredentials(doc)) {
    const record = credential.leases?.find((lease) => lease.id === leaseId);
    if (!record) continue;
    credential.leases = (credential.leases ?? []).filter((lease) => lease.id !== leaseId);
    return { credential, record };
  }
  return undefined;
}

/** Moves a lease's expiry; a persisted lease must still be live in the document. */
export async function renewLocalLease(
  backend: PoolBackend,
  local: LocalLease,
  ttlMs: number,
  now: () => number,
): Promise<void> {
  if (local.released) throw new PoolError("E_NOT_FOUND", `Lease ${local.id} was already released.`);
  const expiresAt = now() + ttlMs;
  if (local.persisted) {
    let found = false;
    await backend.update((doc) => {
      const record = findCredential(doc, local.credentialId)?.leases?.find((lease) => lease.id === local.id);
      found = record !== undefined && record.expiresAt > now();
      if (record && found) record.expiresAt = expiresAt;
    });
    if (!found) throw new PoolError("E_NOT_FOUND", `Lease ${local.id} has expired; take a new one.`);
  }
  local.expiresAt = expiresAt;
}

// Whether a credential can serve a request right now. Expired cooldowns read as available with no write needed.
import type { Credential, CredentialStatus, LeaseRecord } from "../store/schema.js";

export type Unavailability =
  | { readonly kind: "dead"; readonly reason: string }
  | { readonly kind: "exhausted"; readonly until: number; readonly reason: string; readonly model?: string }
  | {
      readonly kind: "at_capacity";
      /** When to retry: within a second, since a holder may release at any moment. */
      readonly until: number;
      /** When the first lease runs out at the latest (its TTL), which is what a person wants to see. */
      readonly leasesEndAt: number;
      readonly held: number;
      readonly max: number;
    }
  | { readonly kind: "excluded" }
  | { readonly kind: "disabled" }
  | { readonly kind: "no_secret" };

/** How soon a caller turned away by a full cap is told to try again. */
export const CAPACITY_RETRY_MS = 1000;

export function liveLeases(credential: Credential, now: number): LeaseRecord[] {
  return (credential.leases ?? []).filter((lease) => lease.expiresAt > now);
}

function activeCooldown(status: CredentialStatus | undefined, now: number): boolean {
  return status?.state === "exhausted" && (status.until ?? 0) > now;
}

export function findModelCooldown(
  credential: Credential,
  model: string | undefined,
  now: number,
): CredentialStatus | undefined {
  if (!model) return undefined;
  return credential.modelCooldowns?.find((status) => status.model === model && activeCooldown(status, now));
}

export function hasSecret(credential: Credential): boolean {
  const { secrets } = credential;
  return Boolean(secrets.apiKey || secrets.accessToken || secrets.refreshToken);
}

/**
 * Why `credential` cannot serve now, or undefined when it can. `extraLeases` counts this process's leases that
 * are not yet visible in the document.
 */
export function checkAvailability(
  credential: Credential,
  now: number,
  options: { model?: string; exclude?: readonly string[]; extraLeases?: number } = {},
): Unavailability | undefined {
  if (options.exclude?.includes(credential.id)) return { kind: "excluded" };
  if (credential.disabled === true) return { kind: "disabled" };
  const { status } = credential;
  if (status.state === "dead") return { kind: "dead", reason: status.reason ?? "dead" };
  if (activeCooldown(status, now)) {
    return { kind: "exhausted", until: status.until ?? now, reason: status.reason ?? "exhausted" };
  }
  const modelCooldown = findModelCooldown(credential, options.model, now);
  if (modelCooldown) {
    return {
      kind: "exhausted",
      until: modelCooldown.until ?? now,
      reason: modelCooldown.reason ?? "exhausted",
      model: modelCooldown.model ?? "",
    };
  }
  if (!hasSecret(credential)) return { kind: "no_secret" };
  if (credential.maxConcurrent !== undefined) {
    const live = liveLeases(credential, now);
    const held = live.length + (options.extraLeases ?? 0);
    if (held >= credential.maxConcurrent) {
      // A slot frees whenever a holder releases, which nothing predicts, and holders usually release long before
      // their TTL: hint a retry within a second rather than at the earliest expiry, often minutes away.
      const leasesEndAt = Math.min(...live.map((lease) => lease.expiresAt), Number.POSITIVE_INFINITY);
      const until = Math.min(leasesEndAt, now + CAPACITY_RETRY_MS);
      return {
        kind: "at_capacity",
        until,
        leasesEndAt: Number.isFinite(leasesEndAt) ? leasesEndAt : until,
        held,
        max: credential.maxConcurrent,
      };
    }
  }
  return undefined;
}

export function describeUnavailability(reason: Unavailability, now: number): string {
  switch (reason.kind) {
    case "dead":
      return `dead: ${reason.reason}`;
    case "exhausted": {
      const left = Math.max(0, Math.ceil((reason.until - now) / 1000));
      return `exhausted (${reason.reason}${reason.model ? `, model ${reason.model}` : ""}) for ${left}s`;
    }
    case "at_capacity":
      return `at capacity (${reason.held}/${reason.max} leases)`;
    case "excluded":
      return "excluded by the caller";
    case "no_secret":
      return "has no secret";
    case "disabled":
      return "disabled by an admin";
  }
}

// What the API shows of a credential: everything useful, secrets masked.
import { maskSecret, quotaWindowViews, redactValues, secretValuesOf, type CredentialView } from "@credpool/pool-core";

export function toCredentialJson(view: CredentialView, now = Date.now()): Record<string, unknown> {
  const { credential } = view;
  const secret = credential.kind === "api_key" ? credential.secrets.apiKey : credential.secrets.accessToken;
  return {
    id: credential.id,
    index: view.index,
    provider: credential.provider,
    label: credential.label,
    kind: credential.kind,
    priority: credential.priority,
    disabled: credential.disabled === true,
    source: credential.source,
    baseUrl: credential.baseUrl,
    secret: maskSecret(secret),
    status: {
      state: credential.status.state,
      reason: credential.status.reason,
      httpStatus: credential.status.httpStatus,
      until: credential.status.until,
      // Redacted again on the way out: a message stored by an older build may still hold this credential's secret.
      message:
        credential.status.message === undefined
          ? undefined
          : redactValues(credential.status.message, secretValuesOf(credential.secrets)),
    },
    available: view.available,
    unavailable: view.unavailable,
    usage: credential.usage,
    maxConcurrent: credential.maxConcurrent,
    activeLeases: view.activeLeases,
    expiresAt: credential.secrets.expiresAt,
    tokenGeneration: credential.tokenGeneration,
    // The windows the upstream last reported, tightest first; a window whose reset has passed is marked stale.
    quota: {
      windows: quotaWindowViews(credential.quota, now),
      representative: credential.quota?.representative,
      observedAt: credential.quota?.observedAt,
    },
  };
}

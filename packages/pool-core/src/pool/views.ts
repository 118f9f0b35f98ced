// What `list` shows about each credential, computed from a document alone, so a one-shot reader (the CLI's
// `list` and `show`) needs no watched pool.
import type { Credential, PoolDocument } from "../store/schema.js";
import { checkAvailability, liveLeases, type Unavailability } from "./availability.js";
import { orderCredentials } from "./strategy.js";

export interface CredentialView {
  readonly credential: Credential;
  /** 1-based position within its provider, as `provider#N` targets use. */
  readonly index: number;
  readonly available: boolean;
  readonly unavailable: Unavailability | undefined;
  readonly activeLeases: number;
}

/** Every credential of `provider` (or of all providers, sorted by name) in selection order, with its availability at `now`. */
export function listCredentialViews(doc: PoolDocument, now: number, provider?: string): CredentialView[] {
  const views: CredentialView[] = [];
  const providers = provider === undefined ? Object.keys(doc.providers).sort() : [provider];
  for (const name of providers) {
    orderCredentials(doc.providers[name]?.credentials ?? []).forEach((credential, index) => {
      const unavailable = checkAvailability(credential, now);
      views.push({
        credential,
        index: index + 1,
        available: unavailable === undefined,
        unavailable,
        activeLeases: liveLeases(credential, now).length,
      });
    });
  }
  return views;
}

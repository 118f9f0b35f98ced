// The refresher's bridge to linked files: re-read a borrowed credential's file (a one-file sync), and write
// refreshed pairs back to an owned one (write-back.ts).
import { findCredential } from "../pool/index.js";
import {
  createRefresher,
  sourceLinkOf,
  type Refresher,
  type RefresherOptions,
  type SourceLinks,
} from "../refresh/index.js";
import { syncSources } from "./sync.js";
import { writeBackCredential } from "./write-back.js";

export interface SourceLinksOptions {
  env?: NodeJS.ProcessEnv;
  now?: () => number;
}

export function createSourceLinks(options: SourceLinksOptions = {}): SourceLinks {
  const now = options.now ?? Date.now;
  return {
    async reload(backend, credential) {
      const link = sourceLinkOf(credential);
      if (!link) return undefined;
      const result = await syncSources(backend, [{ kind: link.kind, path: link.path }], {
        addNew: false,
        now,
        ...(options.env ? { env: options.env } : {}),
      });
      if (result.errors.length > 0 && result.errors[0]) throw result.errors[0];
      return findCredential((await backend.read()).doc, credential.id);
    },
    async writeBack(credential) {
      await writeBackCredential(credential, now());
    },
  };
}

/**
 * The refresher every long-lived process should use: createRefresher() with source links, so borrowed credentials
 * are re-read from their files and owned ones are written back after each refresh.
 * `openPool({ refresher: createLinkedRefresher({ ...config.refresh }).ensureFresh })`.
 */
export function createLinkedRefresher(options: RefresherOptions = {}): Refresher {
  return createRefresher({
    ...options,
    links:
      options.links ??
      createSourceLinks({ ...(options.env ? { env: options.env } : {}), ...(options.now ? { now: options.now } : {}) }),
  });
}

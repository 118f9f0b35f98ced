// Token usage of proxied requests: hourly buckets per provider × credential × model × client token, kept in their
// own document (usage.json beside pool.json) so the pool document does not grow with traffic. The gateway adds to
// buckets in memory and flushes them in batches; a failed flush keeps its counts for the next one.
import { dirname, join } from "node:path";
import { z } from "zod";
import type { DocumentBackend, DocumentStore } from "../store/backend.js";
import { createDocumentFileBackend } from "../store/file-backend.js";

export const USAGE_FILE_NAME = "usage.json";
/** Buckets older than this are dropped on the next flush. */
export const USAGE_RETENTION_MS = 35 * 24 * 3_600_000;
const HOUR_MS = 3_600_000;

const count = z.number().int().nonnegative();

export const usageBucketSchema = z.looseObject({
  /** Start of the hour, ISO 8601 UTC. */
  hour: z.iso.datetime(),
  provider: z.string(),
  credentialId: z.string(),
  credentialLabel: z.string(),
  model: z.string(),
  client: z.string(),
  requests: count,
  input: count,
  output: count,
  cacheRead: count,
  cacheWrite: count,
});

export const usageDocumentSchema = z.looseObject({
  schemaVersion: z.literal(1),
  rev: z.number().int().nonnegative(),
  updatedAt: z.string(),
  buckets: z.array(usageBucketSchema).default([]),
});

export type UsageBucket = z.infer<typeof usageBucketSchema>;
export type UsageDocument = z.infer<typeof usageDocumentSchema>;

/** Token counts of one answer. `input` excludes cached input, so input + cacheRead + cacheWrite is the whole prompt. */
export interface TokenCounts {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
}

export interface UsageEntry {
  readonly provider: string;
  readonly credentialId: string;
  readonly credentialLabel: string;
  readonly model: string;
  readonly client: string;
  readonly tokens?: TokenCounts;
}

export function usagePathFor(poolPath: string): string {
  return join(dirname(poolPath), USAGE_FILE_NAME);
}

const usageDocumentSpec = {
  schema: usageDocumentSchema,
  empty: (): UsageDocument => ({ schemaVersion: 1, rev: 0, updatedAt: new Date(0).toISOString(), buckets: [] }),
  noun: "usage file",
};

/** usage.json at `path`, or with `documents` the shared store's `usage` document (one tally for every gateway). */
export function openUsageBackend(
  path: string,
  options: { create?: boolean; documents?: DocumentStore | undefined } = {},
): DocumentBackend<UsageDocument> {
  if (options.documents) return options.documents.open("usage", usageDocumentSpec);
  return createDocumentFileBackend(usageDocumentSpec, { path, createIfMissing: options.create ?? true });
}

/** Where the usage document lives, for messages: usage.json beside the pool, or the shared store's document. */
export function usageLocation(poolPath: string, documents?: DocumentStore): string {
  return documents ? `${documents.location} document usage` : usagePathFor(poolPath);
}

export interface UsageRecorder {
  readonly path: string;
  record(entry: UsageEntry): void;
  /** Writes what is pending now; a failure keeps it pending. */
  flush(): Promise<void>;
  /** Flushes and stops; nothing recorded after this is kept. */
  close(): Promise<void>;
}

export interface UsageRecorderOptions {
  /** usage.json; with `documents`, only named in messages. */
  readonly path: string;
  /** A shared store (PostgreSQL): counts go to its `usage` document, which every gateway adds to. */
  readonly documents?: DocumentStore | undefined;
  readonly now?: () => number;
  /** The longest a recorded count waits before its flush starts. */
  readonly flushMs?: number;
  readonly retentionMs?: number;
  readonly onFlushError?: (error: unknown) => void;
}

function hourOf(at: number): string {
  return new Date(Math.floor(at / HOUR_MS) * HOUR_MS).toISOString();
}

function keyOf(bucket: Omit<UsageBucket, "requests" | "input" | "output" | "cacheRead" | "cacheWrite">): string {
  return JSON.stringify([bucket.hour, bucket.provider, bucket.credentialId, bucket.model, bucket.client]);
}

function addInto(into: UsageBucket, from: UsageBucket): void {
  into.requests += from.requests;
  into.input += from.input;
  into.output += from.output;
  into.cacheRead += from.cacheRead;
  into.cacheWrite += from.cacheWrite;
  // The latest label wins: a renamed credential shows under its new name.
  into.credentialLabel = from.credentialLabel;
}

export function createUsageRecorder(options: UsageRecorderOptions): UsageRecorder {
  const now = options.now ?? Date.now;
  const flushMs = options.flushMs ?? 1000;
  const retentionMs = options.retentionMs ?? USAGE_RETENTION_MS;
  const backend = openUsageBackend(options.path, { documents: options.documents });
  let pending = new Map<string, UsageBucket>();
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | undefined;
  let closed = false;

  function schedule(): void {
    if (timer || closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      flush().catch((error: unknown) => options.onFlushError?.(error));
    }, flushMs);
    timer.unref();
  }

  function merge(into: Map<string, UsageBucket>, buckets: Iterable<UsageBucket>): void {
    for (const bucket of buckets) {
      const key = keyOf(bucket);
      const existing = into.get(key);
      if (existing) addInto(existing, bucket);
      else into.set(key, { ...bucket });
    }
  }

  async function writeOnce(): Promise<void> {
    if (pending.size === 0) return;
    const batch = pending;
    pending = new Map();
    const cutoff = hourOf(now() - retentionMs);
    try {
      await backend.update((doc) => {
        const byKey = new Map<string, UsageBucket>();
        merge(
          byKey,
          doc.buckets.filter((bucket) => bucket.hour >= cutoff),
        );
        merge(byKey, batch.values());
        doc.buckets = [...byKey.values()];
      });
    } catch (error) {
      // Put the counts back in front of anything recorded meanwhile, and try again later.
      const restored = new Map<string, UsageBucket>();
      merge(restored, batch.values());
      merge(restored, pending.values());
      pending = restored;
      schedule();
      throw error;
    }
  }

  async function flush(): Promise<void> {
    // A flush in flight may have started before the caller's counts arrived: wait for it, then write the rest.
    while (flushing) await flushing.catch(() => undefined);
    const current = writeOnce();
    flushing = current;
    try {
      await current;
    } finally {
      if (flushing === current) flushing = undefined;
    }
  }

  return {
    path: options.path,
    record(entry) {
      if (closed) return;
      const tokens = entry.tokens ?? { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 };
      merge(pending, [
        {
          hour: hourOf(now()),
          provider: entry.provider,
          credentialId: entry.credentialId,
          credentialLabel: entry.credentialLabel,
          model: entry.model,
          client: entry.client,
          requests: 1,
          input: tokens.input,
          output: tokens.output,
          cacheRead: tokens.cacheRead,
          cacheWrite: tokens.cacheWrite,
        },
      ]);
      schedule();
    },
    flush,
    async close() {
      clearTimeout(timer);
      timer = undefined;
      try {
        await flush();
      } finally {
        closed = true;
        await backend.close();
      }
    },
  };
}

// Shared set-up for the multi-process pool suites: a pool file seeded with fake keys, read back without a pool.
import { createFileBackend, openPool, type Credential, type PoolDocument, type Strategy } from "@credpool/pool-core";
import type { ChildHandle, TempDir } from "@credpool/pool-testkit";

export interface SeedOptions {
  strategy: Strategy;
  credentials: number;
  maxConcurrent?: number;
}

/** Creates the pool with `credentials` fake anthropic keys labelled key-1..key-N; returns their ids in order. */
export async function seedPool(path: string, options: SeedOptions): Promise<string[]> {
  const pool = await openPool({ file: { path } });
  try {
    const ids: string[] = [];
    for (let i = 1; i <= options.credentials; i++) {
      const credential = await pool.add({
        provider: "anthropic",
        label: `key-${i}`,
        secrets: { apiKey: `fake-key-${i}` },
        ...(options.maxConcurrent === undefined ? {} : { maxConcurrent: options.maxConcurrent }),
      });
      ids.push(credential.id);
    }
    await pool.setStrategy("anthropic", options.strategy);
    return ids;
  } finally {
    await pool.close();
  }
}

export async function readPool(path: string): Promise<PoolDocument> {
  const backend = createFileBackend({ path });
  try {
    return (await backend.read()).doc;
  } finally {
    await backend.close();
  }
}

export function credentialsOf(doc: PoolDocument): Credential[] {
  return doc.providers.anthropic?.credentials ?? [];
}

export function countBy(ids: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

/** Test teardown: SIGKILL and reap every child (so none outlives its test), then remove the temp dir. */
export async function killChildrenAndRemove(
  children: readonly (ChildHandle | undefined)[],
  dir: TempDir | undefined,
): Promise<void> {
  const live = children.filter((child): child is ChildHandle => child !== undefined);
  for (const child of live) child.kill("SIGKILL");
  await Promise.all(live.map((child) => child.exited));
  await dir?.remove();
}

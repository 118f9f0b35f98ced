// Shared by the crash-point and fault-injection suites: a pool holding the "old" document that step-writer.mjs
// will try to replace with "new".
import { readFile } from "node:fs/promises";
import { createFileBackend } from "@credpool/pool-core";

/** Commits `{marker: "old"}` to `pool` and returns the exact bytes on disk, for byte-for-byte comparisons later. */
export async function seedOldDocument(pool: string): Promise<Buffer> {
  const setup = createFileBackend({ path: pool });
  await setup.update((doc) => {
    doc.marker = "old";
  });
  await setup.close();
  return readFile(pool);
}

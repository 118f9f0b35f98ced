// Fencing: a lock holder paused past `stale` loses the lock; its late write must not clobber the newer commit.
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createFileBackend } from "@credpool/pool-core";
import { createTempDir, spawnChild, type ChildHandle, type TempDir } from "@credpool/pool-testkit";

const holderScript = fileURLToPath(new URL("../children/paused-holder.mjs", import.meta.url));
const writerScript = fileURLToPath(new URL("../children/tag-writer.mjs", import.meta.url));

// proper-lockfile's minimum; the holder stays stopped until the other process has broken the lock and committed.
const STALE_MS = 2000;

/** The kernel's view of the process: "T" once a SIGSTOP has actually landed. */
async function processState(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // The state follows the parenthesised command name, which may itself contain spaces or parentheses.
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
}

async function waitUntilStopped(pid: number): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if ((await processState(pid)) === "T") return;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  throw new Error(`process ${pid} did not stop`);
}

describe.runIf(process.platform === "linux")("lock holder paused past stale", () => {
  let dir: TempDir;
  let children: ChildHandle[] = [];
  afterEach(async () => {
    // Never leave a stopped child behind if an assertion failed midway.
    for (const child of children) {
      if (child.process.exitCode === null && child.process.signalCode === null) {
        child.kill("SIGCONT");
        child.kill("SIGKILL");
      }
    }
    children = [];
    await dir?.remove();
  });

  it.each([
    // Both sides agree on stale: the holder's own lock refresh notices the loss (onCompromised) or the rev fence does.
    ["with the same stale setting on both sides", STALE_MS],
    // The holder's lock refresh would not run for minutes, so only the rev fence stands between it and a lost update.
    ["by the rev fence alone when the holder's lock library has not noticed the loss", 600_000],
  ])(
    "aborts the paused holder's transaction with E_LOCK_COMPROMISED and keeps the commit made meanwhile, %s",
    async (_case, holderStaleMs) => {
      dir = await createTempDir();
      const pool = dir.file("pool.json");
      const ack = dir.file("stopped.ack");
      const seed = createFileBackend({ path: pool });
      await seed.update((draft) => {
        draft.writer = "seed";
      });
      await seed.close();

      const holder = spawnChild(holderScript, ["--pool", pool, "--ack", ack, "--stale", String(holderStaleMs)]);
      children.push(holder);
      const entered = await holder.waitFor<{ inTransaction: boolean; readRev: number }>((m) => m.inTransaction);
      expect(entered.readRev).toBe(1);
      holder.kill("SIGSTOP");
      await waitUntilStopped(holder.pid);
      // The holder cannot leave its mutator before this file exists, so the stop provably landed inside the transaction.
      await writeFile(ack, "");

      const other = spawnChild(writerScript, ["--pool", pool, "--name", "other", "--stale", String(STALE_MS)]);
      children.push(other);
      const otherResult = await other.waitFor<{ committed?: boolean; failed?: boolean; rev?: number; code?: string }>(
        (m) => m.committed === true || m.failed === true,
      );
      expect(otherResult).toMatchObject({ committed: true, rev: 2 });
      expect(await processState(holder.pid)).toBe("T");
      expect((await other.exited).code).toBe(0);

      holder.kill("SIGCONT");
      const outcome = await holder.waitFor<{ aborted?: boolean; committed?: boolean; code?: string }>(
        (m) => m.aborted === true || m.committed === true,
      );
      expect(outcome).toMatchObject({ aborted: true, code: "E_LOCK_COMPROMISED" });
      const recovered = await holder.waitFor<{ recovered: boolean; rev: number; writer: string }>((m) => m.recovered);
      expect(recovered).toMatchObject({ rev: 3, writer: "other" });
      // onCompromised aborted the transaction without crashing the process.
      expect(await holder.exited).toEqual({ code: 0, signal: null });

      const reader = createFileBackend({ path: pool });
      const { doc } = await reader.read();
      await reader.close();
      expect(doc.writer).toBe("other");
      expect(doc.otherWrites).toBe(1);
      expect(doc.holderWrites).toBeUndefined();
      expect(doc.holderRecovered).toBe(true);
      expect(doc.rev).toBe(3);
    },
  );
});

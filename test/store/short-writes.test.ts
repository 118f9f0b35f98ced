// A source file that credpool owns is written back after every refresh; a short write there must not truncate
// it (a truncated ~/.claude/.credentials.json logs the user out). The limit makes the short write real.
import { execFile } from "node:child_process";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createTempDir, nodeWithFileSizeLimit, type TempDir } from "@credpool/pool-testkit";
import { afterEach, describe, expect, it } from "vitest";

const CHILD = fileURLToPath(new URL("../children/rewrite-source.mjs", import.meta.url));
const run = promisify(execFile);

let dir: TempDir | undefined;
afterEach(async () => {
  await dir?.remove();
  dir = undefined;
});

describe("source write-back under a file-size limit", () => {
  it("fails with E_SOURCE naming the file and EFBIG, and leaves the file as it was", async () => {
    dir = await createTempDir("credpool-short-");
    const path = join(dir.path, ".credentials.json");
    const before = `${JSON.stringify({ claudeAiOauth: { accessToken: "sk-ant-oat01-old", refreshToken: "sk-ant-ort01-old", expiresAt: 1 } }, null, 2)}\n`;
    await writeFile(path, before, { mode: 0o600 });

    const { command, args } = nodeWithFileSizeLimit(Buffer.byteLength(before) + 32, [
      CHILD,
      "--path",
      path,
      "--field",
      "padding",
      "--value",
      "x".repeat(4096),
    ]);
    const { stdout } = await run(command, args);
    const outcome = JSON.parse(stdout) as { written?: boolean; error?: { code: string; message: string } };
    expect(outcome.error?.code).toBe("E_SOURCE");
    expect(outcome.error?.message).toContain(path);
    expect(outcome.error?.message).toContain("EFBIG");
    expect(await readFile(path, "utf8")).toBe(before);
    expect((await readdir(dir.path)).sort()).toEqual([".credentials.json"]);

    // The same write with room for it succeeds, so the limit is what stopped the first one.
    const roomy = nodeWithFileSizeLimit(1 << 20, [
      CHILD,
      "--path",
      path,
      "--field",
      "padding",
      "--value",
      "x".repeat(4096),
    ]);
    const second = JSON.parse((await run(roomy.command, roomy.args)).stdout) as { written?: boolean };
    expect(second.written).toBe(true);
    expect((JSON.parse(await readFile(path, "utf8")) as { padding: string }).padding).toHaveLength(4096);
  });
});

// The `credpool` bin shim: a checkout whose bundle was never built gets one line saying what to run, not a
// module-resolution stack trace.
import { spawnSync } from "node:child_process";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";
import { afterEach, describe, expect, it } from "vitest";
import { copyCli } from "./helpers/copy-cli.js";

describe("the credpool bin shim", () => {
  let dir: TempDir | undefined;
  afterEach(async () => {
    await dir?.remove();
  });

  it("prints one line naming the build command when the bundle is missing", async () => {
    dir = await createTempDir("credpool-shim-");
    const bin = await copyCli(dir.path, { withBundle: false });
    const result = spawnSync(process.execPath, [bin, "init"], {
      encoding: "utf8",
      env: { ...process.env, CREDPOOL_HOME: dir.file("home") },
    });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(
      /^credpool: the CLI is not built yet \(no .*bundle\/main\.js\)\. Run `pnpm run build` in .* first\.\n$/,
    );
    expect(result.stderr).not.toContain("ERR_MODULE_NOT_FOUND");
  });

  it("runs the command once the bundle is there", async () => {
    dir = await createTempDir("credpool-shim-");
    const bin = await copyCli(dir.path);
    const result = spawnSync(process.execPath, [bin, "init", "--json"], {
      encoding: "utf8",
      env: { ...process.env, CREDPOOL_HOME: dir.file("home") },
    });
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ path: dir.file("home/pool.json"), created: true });
  });
});

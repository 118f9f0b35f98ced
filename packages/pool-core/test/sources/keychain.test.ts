// Claude Code's macOS Keychain item, read and written through a fake `security` program on PATH that answers like
// the real one: the item's password with -w, exit 44 when there is no such item, exit 128 when the user denies.
import { chmod, readFile, writeFile } from "node:fs/promises";
import { createTempDir, type TempDir } from "@credpool/pool-testkit";
import { afterEach, describe, expect, it } from "vitest";
import { ownershipOf, rememberUsedToken, updateRefreshState } from "../../src/refresh/index.js";
import { importClaudeCodeKeychain } from "../../src/sources/keychain-import.js";
import {
  CLAUDE_CODE_KEYCHAIN_SERVICE,
  readClaudeCodeKeychain,
  writeClaudeCodeKeychain,
} from "../../src/sources/keychain.js";
import { writeBackCredential } from "../../src/sources/write-back.js";
import { createMemoryBackend } from "../../src/store/index.js";

const FAKE_SECURITY = `#!/usr/bin/env node
// A stand-in for macOS security(1): find-generic-password -w -s SERVICE, and -i with add-generic-password -U.
const fs = require("node:fs");
const store = process.env.FAKE_KEYCHAIN;
const items = fs.existsSync(store) ? JSON.parse(fs.readFileSync(store, "utf8")) : {};
fs.appendFileSync(store + ".argv", JSON.stringify(process.argv.slice(2)) + "\\n");
if (process.env.FAKE_KEYCHAIN_DENY === "1") {
  process.stderr.write("security: SecKeychainSearchCopyNext: User canceled the operation.\\n");
  process.exit(128);
}
const args = process.argv.slice(2);
if (args[0] === "find-generic-password") {
  const service = args[args.indexOf("-s") + 1];
  const item = items[service];
  if (!item) {
    process.stderr.write("security: SecKeychainSearchCopyNext: The specified item could not be found in the keychain.\\n");
    process.exit(44);
  }
  process.stdout.write(item.password + "\\n");
  process.exit(0);
}
if (args[0] === "-i") {
  const input = fs.readFileSync(0, "utf8");
  for (const line of input.split("\\n").filter(Boolean)) {
    const words = line.match(/"(?:[^"\\\\]|\\\\.)*"|\\S+/g).map((w) => (w.startsWith('"') ? JSON.parse(w) : w));
    if (words[0] !== "add-generic-password" || !words.includes("-U")) process.exit(2);
    const service = words[words.indexOf("-s") + 1];
    const account = words[words.indexOf("-a") + 1];
    const password = Buffer.from(words[words.indexOf("-X") + 1], "hex").toString("utf8");
    items[service] = { account, password };
  }
  fs.writeFileSync(store, JSON.stringify(items));
  process.exit(0);
}
process.exit(2);
`;

describe("Claude Code's macOS Keychain item", () => {
  let dir: TempDir | undefined;
  afterEach(async () => {
    await dir?.remove();
  });

  async function fakeSecurity(items: Record<string, { account: string; password: string }>, deny = false) {
    dir = await createTempDir("credpool-keychain-");
    await writeFile(dir.file("security"), FAKE_SECURITY);
    await chmod(dir.file("security"), 0o755);
    await writeFile(dir.file("keychain.json"), JSON.stringify(items));
    const env = {
      ...process.env,
      PATH: `${dir.path}:${process.env.PATH ?? ""}`,
      FAKE_KEYCHAIN: dir.file("keychain.json"),
      FAKE_KEYCHAIN_DENY: deny ? "1" : "0",
      USER: "tester",
    };
    return { env, dir };
  }

  const login = {
    claudeAiOauth: { accessToken: "sk-ant-oat01-keychain", refreshToken: "sk-ant-ort01-keychain", expiresAt: 1 },
  };

  it("reads the item's JSON with find-generic-password -w, and finds nothing on exit 44", async () => {
    const { env } = await fakeSecurity({
      [CLAUDE_CODE_KEYCHAIN_SERVICE]: { account: "tester", password: JSON.stringify(login) },
    });
    expect(await readClaudeCodeKeychain({ platform: "darwin", env })).toEqual(login);
    expect(await readClaudeCodeKeychain({ platform: "darwin", env, service: "absent" })).toBeUndefined();
    // Not macOS: the keychain is never asked.
    expect(await readClaudeCodeKeychain({ platform: "linux", env })).toBeUndefined();
    const argv = (await readFile(`${env.FAKE_KEYCHAIN}.argv`, "utf8")).trim().split("\n");
    expect(argv.map((line) => JSON.parse(line) as string[])).toEqual([
      ["find-generic-password", "-w", "-s", CLAUDE_CODE_KEYCHAIN_SERVICE],
      ["find-generic-password", "-w", "-s", "absent"],
    ]);
  });

  it("a user who denies access gets an error that says so, not an empty import", async () => {
    const { env } = await fakeSecurity({}, true);
    await expect(readClaudeCodeKeychain({ platform: "darwin", env })).rejects.toThrow(
      /macOS refused access to the Keychain item "Claude Code-credentials" \(security exited 128: .*User canceled/,
    );
  });

  it("writes back with add-generic-password -U over stdin, never with the secret on argv", async () => {
    const { env } = await fakeSecurity({
      [CLAUDE_CODE_KEYCHAIN_SERVICE]: { account: "tester", password: JSON.stringify(login) },
    });
    const next = { claudeAiOauth: { ...login.claudeAiOauth, refreshToken: "sk-ant-ort01-rotated" } };
    await writeClaudeCodeKeychain(next, { platform: "darwin", env });
    expect(await readClaudeCodeKeychain({ platform: "darwin", env })).toEqual(next);
    const argv = await readFile(`${env.FAKE_KEYCHAIN}.argv`, "utf8");
    expect(argv).not.toContain("rotated");
    expect(argv).toContain('["-i"]');
  });

  it("import makes an owned credential whose refreshed pair is written back to the item, never over a newer login", async () => {
    const { env } = await fakeSecurity({
      [CLAUDE_CODE_KEYCHAIN_SERVICE]: { account: "tester", password: JSON.stringify(login) },
    });
    const backend = createMemoryBackend();
    expect(await importClaudeCodeKeychain(backend, { platform: "linux", env })).toBeUndefined();
    const imported = await importClaudeCodeKeychain(backend, { platform: "darwin", env, now: 5 });
    expect(imported?.changes.map((change) => change.action)).toEqual(["added"]);
    const doc = (await backend.read()).doc;
    const credential = structuredClone(doc.providers.anthropic?.credentials[0]);
    if (!credential) throw new Error("nothing imported");
    expect(credential).toMatchObject({ source: "claude-code", keychainService: CLAUDE_CODE_KEYCHAIN_SERVICE });
    expect(credential.sourcePath).toBeUndefined();
    expect(ownershipOf(credential)).toBe("own");

    // As after a refresh: a new pair, and the old refresh token remembered as spent.
    credential.secrets = { ...credential.secrets, accessToken: "sk-ant-oat01-new", refreshToken: "sk-ant-ort01-new" };
    updateRefreshState(credential, (state) => rememberUsedToken(state, login.claudeAiOauth.refreshToken));
    expect(await writeBackCredential(credential, 6, { platform: "darwin", env })).toBe(true);
    expect(await readClaudeCodeKeychain({ platform: "darwin", env })).toMatchObject({
      claudeAiOauth: { accessToken: "sk-ant-oat01-new", refreshToken: "sk-ant-ort01-new", expiresAt: 1 },
    });

    // Claude Code logged in again meanwhile: its token is not one credpool spent, so it is left alone.
    const relogin = { claudeAiOauth: { accessToken: "sk-ant-oat01-cc", refreshToken: "sk-ant-ort01-cc" } };
    await writeClaudeCodeKeychain(relogin, { platform: "darwin", env });
    credential.secrets = { ...credential.secrets, refreshToken: "sk-ant-ort01-newer" };
    expect(await writeBackCredential(credential, 7, { platform: "darwin", env })).toBe(false);
    expect(await readClaudeCodeKeychain({ platform: "darwin", env })).toEqual(relogin);

    // Importing again adopts that login in place instead of adding a second credential.
    const again = await importClaudeCodeKeychain(backend, { platform: "darwin", env, now: 8 });
    expect(again?.changes.map((change) => change.action)).toEqual(["updated"]);
    const after = (await backend.read()).doc.providers.anthropic?.credentials ?? [];
    expect(after.map((item) => [item.id, item.secrets.refreshToken, item.tokenGeneration])).toEqual([
      [credential.id, "sk-ant-ort01-cc", 1],
    ]);
  });
});

// `credpool init`: creates the pool (directory 0700, file 0600) and says where it lives; on an existing pool it
// only tightens those modes.
import { chmod, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { createFileBackend, errnoCode } from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, jsonOption } from "../command.js";
import { createOutput } from "../output.js";
import { fileOptionsFor, openPostgresPoolBackend, storeChoiceFor } from "../pool-access.js";

export const { help, run } = defineCommand({
  name: "init",
  usage: "credpool init [--json]",
  description:
    "Create an empty pool with safe modes (directory 0700, file 0600) and print where it lives.\n" +
    "Running it again on an existing pool changes nothing but modes: a directory or file that others can read\n" +
    "is set back to 0700 / 0600 (or init says why it cannot). Every other command needs the pool to exist.",
  options: { json: jsonOption },
  examples: ["credpool init", "credpool --pool ~/work-pool init", "CREDPOOL_HOME=/srv/credpool credpool init --json"],
  schema: z.object({ json: z.boolean().default(false) }),
  async run(input, context) {
    const output = createOutput(context);
    const store = await storeChoiceFor(context);
    if (store.kind === "postgres") {
      // The schema and its tables are created on first use; committing once creates the pool's row.
      const backend = await openPostgresPoolBackend(store, context.env);
      try {
        const created = (await backend.read()).rev === 0;
        const doc = await backend.update(() => undefined);
        const credentials = Object.values(doc.providers).reduce((sum, p) => sum + p.credentials.length, 0);
        if (input.json) output.printJson({ path: backend.location, created, rev: doc.rev, credentials });
        else if (created) output.print(`Created an empty pool in ${backend.location}`);
        else output.print(`A pool already exists in ${backend.location} (${credentials} credentials); unchanged.`);
      } finally {
        await backend.close();
      }
      return 0;
    }
    const file = await fileOptionsFor(context, { createIfMissing: true });
    const backend = createFileBackend(file);
    let created: boolean;
    let rev: number;
    let credentials: number;
    try {
      const before = await backend.read();
      // A committed document always has rev >= 1; rev 0 is the empty document read from a missing file.
      created = before.rev === 0;
      const doc = await backend.update(() => undefined);
      rev = doc.rev;
      credentials = Object.values(doc.providers).reduce((sum, provider) => sum + provider.credentials.length, 0);
    } finally {
      await backend.close();
    }
    // An existing directory keeps whatever mode it had (mkdir's mode applies only to a new one), so set it here.
    // See packages/pool-cli/test/init-add.test.ts, "tightens an existing 0755 directory".
    const modeNotes = [
      await tightenMode(dirname(file.path), 0o700, "others can list it and see lock and temp files"),
      await tightenMode(file.path, 0o600, "others can read the secrets in it"),
    ].filter((note): note is string => note !== undefined);
    if (input.json) {
      output.printJson({ path: file.path, created, rev, credentials });
    } else if (created) {
      output.print(`Created an empty pool at ${file.path}`);
      output.note(`Add a key with: printf %s "$ANTHROPIC_API_KEY" | credpool add anthropic --api-key-stdin`);
    } else {
      output.print(
        `A pool already exists at ${file.path} (${credentials} credential${credentials === 1 ? "" : "s"}); its contents are unchanged.`,
      );
    }
    for (const note of modeNotes) output.note(note);
    return 0;
  },
});

const octal = (mode: number): string => mode.toString(8).padStart(4, "0");

/** Sets `path` to `wanted` when others have any access; returns what was done, or why it could not be. */
async function tightenMode(path: string, wanted: number, risk: string): Promise<string | undefined> {
  const info = await stat(path);
  const mode = info.mode & 0o777;
  if ((mode & 0o077) === 0) return undefined;
  try {
    await chmod(path, wanted);
    return `Changed the mode of ${path} from ${octal(mode)} to ${octal(wanted)}.`;
  } catch (error) {
    const uid = process.getuid?.();
    const why =
      errnoCode(error) === "EPERM" && uid !== undefined && info.uid !== uid
        ? `it belongs to uid ${info.uid}, not to you (uid ${uid}); ask its owner to run \`chmod ${wanted.toString(8)} ${path}\`, or pick a pool directory you own with --pool`
        : `${errnoCode(error) ?? (error as Error).message}; run \`chmod ${wanted.toString(8)} ${path}\` yourself`;
    return `warning: ${path} has mode ${octal(mode)} (${risk}) and could not be changed to ${octal(wanted)}: ${why}.`;
  }
}

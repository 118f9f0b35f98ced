// `credpool init`: creates the pool (directory 0700, file 0600) and says where it lives; harmless when it exists.
import { stat } from "node:fs/promises";
import { dirname } from "node:path";
import { createFileBackend } from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, jsonOption } from "../command.js";
import { createOutput } from "../output.js";
import { fileOptionsFor } from "../pool-access.js";

export const { help, run } = defineCommand({
  name: "init",
  usage: "credpool init [--json]",
  description:
    "Create an empty pool with safe modes (directory 0700, file 0600) and print where it lives.\n" +
    "Running it again on an existing pool changes nothing. Every other command needs the pool to exist.",
  options: { json: jsonOption },
  examples: ["credpool init", "credpool --pool ~/work-pool init", "CREDPOOL_HOME=/srv/credpool credpool init --json"],
  schema: z.object({ json: z.boolean().default(false) }),
  async run(input, context) {
    const output = createOutput(context);
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
    const dirMode = (await stat(dirname(file.path))).mode & 0o777;
    if (input.json) {
      output.printJson({ path: file.path, created, rev, credentials });
    } else if (created) {
      output.print(`Created an empty pool at ${file.path}`);
      output.note(`Add a key with: printf %s "$ANTHROPIC_API_KEY" | credpool add anthropic --api-key-stdin`);
    } else {
      output.print(`A pool already exists at ${file.path} (${credentials} credential${credentials === 1 ? "" : "s"}); nothing changed.`);
    }
    if ((dirMode & 0o077) !== 0) {
      output.note(
        `warning: ${dirname(file.path)} has mode ${dirMode.toString(8).padStart(4, "0")}; others can list it. Run \`credpool doctor --fix\`.`,
      );
    }
    return 0;
  },
});

// `credpool export [--out FILE]`: the whole pool document, secrets included, TOTP-gated. A file is created with mode
// 0600 and never overwritten without --force. The output is itself a valid pool file (usable with --pool).
import { randomBytes } from "node:crypto";
import { open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { PoolError, errnoCode, serializeDocument } from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, jsonOption } from "../command.js";
import { requireTotp, totpCodeOption } from "../gate.js";
import { createOutput, isTerminal } from "../output.js";
import { readCliPool } from "../pool-access.js";

async function writeExclusive(path: string, text: string): Promise<void> {
  const handle = await open(path, "wx", 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** --force: a private temp file renamed over the target, so a reader never sees half an export. */
async function replaceFile(path: string, text: string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    await writeExclusive(temp, text);
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

export const { help, run } = defineCommand({
  name: "export",
  usage: "credpool export [--out FILE [--force]] [--json]",
  description:
    "Write the whole pool, secrets included, as a pool document (it works with --pool FILE). With --out the\n" +
    "file gets mode 0600 and an existing file is only replaced with --force; without --out it goes to stdout,\n" +
    "which must not be a terminal. Needs a TOTP code when TOTP is configured.",
  options: {
    out: { type: "string", value: "FILE", description: "write to FILE (mode 0600) instead of stdout" },
    force: { type: "boolean", description: "replace FILE if it exists" },
    "totp-code": totpCodeOption,
    json: jsonOption,
  },
  examples: [
    "credpool export --out ~/credpool-backup.json",
    "credpool export --totp-code 123456 | age -r $RECIPIENT > pool.age",
  ],
  schema: z.object({
    out: z.string().min(1).optional(),
    force: z.boolean().default(false),
    totpCode: z.string().optional(),
    json: z.boolean().default(false),
  }),
  async run(input, context) {
    const output = createOutput(context);
    if (input.out === undefined && isTerminal(context.stdout)) {
      throw new PoolError(
        "E_USAGE",
        "Refusing to print every secret in the pool to a terminal: pass --out FILE, or pipe stdout.",
      );
    }
    if (input.out === undefined && input.json) {
      throw new PoolError(
        "E_USAGE",
        "--json describes the written file; use it with --out FILE (stdout already is JSON).",
      );
    }
    const { doc, path } = await readCliPool(context);
    await requireTotp(context, { action: "export", code: input.totpCode });
    const text = `${serializeDocument(doc)}\n`;
    const credentials = Object.values(doc.providers).reduce((sum, provider) => sum + provider.credentials.length, 0);
    if (input.out === undefined) {
      context.stdout.write(text);
      output.note(`Exported ${credentials} credential${credentials === 1 ? "" : "s"} from ${path} (rev ${doc.rev}).`);
      return 0;
    }
    const target = resolve(input.out);
    try {
      if (input.force) await replaceFile(target, text);
      else await writeExclusive(target, text);
    } catch (error) {
      if (errnoCode(error) === "EEXIST") {
        throw new PoolError("E_CONFLICT", `${target} already exists; pass --force to replace it.`, {
          details: { path: target },
        });
      }
      throw new PoolError("E_POOL_IO", `Could not write ${target}: ${errnoCode(error) ?? (error as Error).message}`, {
        cause: error,
      });
    }
    if (input.json) output.printJson({ path: target, credentials, rev: doc.rev, bytes: Buffer.byteLength(text) });
    else
      output.print(
        `Exported ${credentials} credential${credentials === 1 ? "" : "s"} (rev ${doc.rev}) to ${target} (mode 0600).`,
      );
    return 0;
  },
});

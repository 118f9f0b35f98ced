// `credpool store copy --to URL | --from URL`: moves every document of $CREDPOOL_HOME (pool, TOTP auth state,
// gateway client tokens) into PostgreSQL in one transaction, or back out into files, refusing to overwrite a
// non-empty target without --force.
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  PoolError,
  acquireFileLock,
  errnoCode,
  poolDocumentSchema,
  publishDocument,
  resolveStoreChoice,
  serializeDocument,
} from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, defineCommandGroup, jsonOption, type CommandContext } from "../command.js";
import { loadCliConfig } from "../config.js";
import { createOutput } from "../output.js";
import { resolveCliPoolPath } from "../pool-access.js";

/** Row name ↔ file name in $CREDPOOL_HOME. */
const DOCUMENTS = [
  { name: "pool", file: "pool.json" },
  { name: "auth-state", file: "auth-state.json" },
  { name: "gateway-tokens", file: "gateway-tokens.json" },
  { name: "usage", file: "usage.json" },
] as const;

const headerSchema = z.looseObject({
  schemaVersion: z.number().int().min(1),
  rev: z.number().int().min(0),
  updatedAt: z.string(),
});

type Doc = Record<string, unknown> & { rev: number };

async function readJsonFile(path: string): Promise<Doc | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw new PoolError("E_POOL_IO", `Could not read ${path}: ${errnoCode(error) ?? (error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new PoolError("E_POOL_CORRUPT", `${path} is not valid JSON; run \`credpool doctor\`.`);
  }
  const header = headerSchema.safeParse(parsed);
  if (!header.success) throw new PoolError("E_POOL_CORRUPT", `${path} has no valid schemaVersion/rev/updatedAt.`);
  return parsed as Doc;
}

async function storeOptions(context: CommandContext, url: string, home: string) {
  // The URL is on argv, so the no-password rule of --store applies to it.
  const { config } = await loadCliConfig(context, home);
  const choice = resolveStoreChoice({ flag: url, env: {}, config: config.store });
  if (choice.kind !== "postgres") throw new PoolError("E_USAGE", "store copy needs a postgres:// URL.");
  const schema = context.env.CREDPOOL_STORE_SCHEMA || config.store?.schema || "credpool";
  return {
    url: choice.url,
    schema,
    ...(config.store?.passwordFile === undefined ? {} : { passwordFile: config.store.passwordFile }),
    ...(config.store?.ssl === undefined ? {} : { ssl: config.store.ssl }),
  };
}

const copyCommand = defineCommand({
  name: "store copy",
  usage: "credpool store copy (--to URL | --from URL) [--force] [--json]",
  description:
    "Copy every document of the pool directory (pool.json, auth-state.json, gateway-tokens.json, usage.json) into the\n" +
    "PostgreSQL schema at URL (--to), in one transaction, or from it back into files (--from). A target that\n" +
    "already holds any of them (rev > 0) is refused unless --force. The schema is CREDPOOL_STORE_SCHEMA or\n" +
    "config.json store.schema (default credpool); the password comes from PGPASSWORD or ~/.pgpass, never argv.",
  options: {
    to: { type: "string", value: "URL", description: "copy the files into PostgreSQL at URL" },
    from: { type: "string", value: "URL", description: "copy the documents from PostgreSQL at URL into files" },
    force: { type: "boolean", description: "overwrite a target that is not empty" },
    json: jsonOption,
  },
  examples: [
    "credpool store copy --to postgres://credpool@db.internal/credpool",
    "credpool --pool ~/backup store copy --from postgres://credpool@db.internal/credpool --force",
  ],
  schema: z
    .object({
      to: z.string().optional(),
      from: z.string().optional(),
      force: z.boolean().default(false),
      json: z.boolean().default(false),
    })
    .refine((input) => (input.to === undefined) !== (input.from === undefined), {
      message: "give exactly one of --to URL or --from URL",
    }),
  async run(input, context) {
    const output = createOutput(context);
    const home = dirname(await resolveCliPoolPath(context));
    const postgres = await import("@credpool/pool-postgres").catch((error: unknown) => {
      throw new PoolError("E_USAGE", "store copy needs @credpool/pool-postgres installed next to credpool.", {
        cause: error,
      });
    });
    const copied: Array<{ name: string; rev: number }> = [];
    if (input.to !== undefined) {
      const options = await storeOptions(context, input.to, home);
      const documents: Array<{ name: string; doc: Doc }> = [];
      for (const { name, file } of DOCUMENTS) {
        const doc = await readJsonFile(join(home, file));
        if (doc === undefined) continue;
        if (name === "pool") {
          const checked = poolDocumentSchema.safeParse(doc);
          if (!checked.success) throw new PoolError("E_POOL_INVALID", `${join(home, file)} is not a valid pool.`);
        }
        documents.push({ name, doc });
      }
      if (documents.length === 0) throw new PoolError("E_POOL_NOT_FOUND", `Nothing to copy: ${home} has no pool.json.`);
      const written = await postgres.writeStoreDocuments(options, documents, { force: input.force });
      for (const { name, doc } of written) copied.push({ name, rev: doc.rev });
    } else {
      const options = await storeOptions(context, input.from as string, home);
      const documents = await postgres.readStoreDocuments(options);
      if (documents.length === 0)
        throw new PoolError("E_POOL_NOT_FOUND", `The schema ${options.schema} holds no documents.`);
      const targets = documents.flatMap((stored) => {
        const target = DOCUMENTS.find((d) => d.name === stored.name);
        return target ? [{ ...stored, path: join(home, target.file) }] : [];
      });
      // Check every target before writing any, so a refusal leaves all files as they were.
      const before = new Map<string, number>();
      for (const target of targets) {
        const existing = await readJsonFile(target.path);
        if (existing !== undefined) before.set(target.path, existing.rev);
      }
      const occupied = [...before].filter(([, rev]) => rev > 0);
      if (occupied.length > 0 && !input.force) {
        throw new PoolError(
          "E_CONFLICT",
          `${occupied.map(([path, rev]) => `${path} (rev ${rev})`).join(", ")} already exist; pass --force to overwrite.`,
        );
      }
      const { mkdir } = await import("node:fs/promises");
      await mkdir(home, { recursive: true, mode: 0o700 });
      for (const target of targets) {
        const previous = before.get(target.path);
        const rev = previous === undefined ? target.doc.rev : Math.max(target.doc.rev, previous + 1);
        // Under the same lock the file backend commits under, so a running process never sees a torn swap.
        const lock = await acquireFileLock(target.path, `${target.path}.lock`, { staleMs: 5000, timeoutMs: 10_000 });
        try {
          await publishDocument(target.path, serializeDocument({ ...target.doc, rev }), 0o600);
        } finally {
          await lock.release();
        }
        copied.push({ name: target.name, rev });
      }
    }
    if (input.json) output.printJson({ copied });
    else for (const { name, rev } of copied) output.print(`copied ${name} (rev ${rev})`);
    return 0;
  },
});

export const { help, run } = defineCommandGroup({
  name: "store",
  usage: "credpool store copy (--to URL | --from URL) [--force] [--json]",
  description:
    "Move the pool directory's documents into PostgreSQL, or back into files.\n\n" +
    "Subcommands:\n" +
    "  copy  copy pool.json, auth-state.json, gateway-tokens.json and usage.json to or from a PostgreSQL schema",
  examples: ["credpool store copy --to postgres://credpool@db.internal/credpool"],
  subcommands: { copy: copyCommand },
});

// Benchmark harness: runs every group in bench/groups/ (or the one named), prints `name value` lines as they are
// measured, and merges the figures into bench/results/latest.json so one group's run keeps the others' figures.
import { randomBytes } from "node:crypto";
import { cpus } from "node:os";
import { mkdir, readFile, readdir, rename, writeFile, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const benchDir = dirname(fileURLToPath(import.meta.url));
const groupsDir = join(benchDir, "groups");
const resultsPath = join(benchDir, "results", "latest.json");

/** A group is any bench/groups/<name>.mjs; adding a file is all it takes to add one. */
async function listGroups() {
  const names = await readdir(groupsDir);
  return names
    .filter((name) => name.endsWith(".mjs"))
    .map((name) => basename(name, ".mjs"))
    .sort();
}

/** Reads the previous results; a missing file starts fresh, an unreadable one is an error rather than erased. */
async function readResults() {
  let text;
  try {
    text = await readFile(resultsPath, "utf8");
  } catch (error) {
    if (error.code === "ENOENT") return { groups: {} };
    throw error;
  }
  try {
    const parsed = JSON.parse(text);
    if (parsed === null || typeof parsed !== "object" || typeof parsed.groups !== "object" || parsed.groups === null) {
      throw new Error("it has no `groups` object");
    }
    return parsed;
  } catch (error) {
    throw new Error(
      `${resultsPath} is not a results file (${error.message}); move it aside or delete it to start fresh.`,
      { cause: error },
    );
  }
}

/** Temp file and rename, so an interrupted run never leaves a torn results file behind. */
async function writeResults(groupName, metrics) {
  const previous = await readResults();
  const results = {
    generatedAt: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    groups: { ...previous.groups, [groupName]: metrics },
  };
  await mkdir(dirname(resultsPath), { recursive: true });
  const temp = `${resultsPath}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeFile(temp, `${JSON.stringify(results, null, 2)}\n`);
    await rename(temp, resultsPath);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

async function runGroup(name) {
  const module = await import(pathToFileURL(join(groupsDir, `${name}.mjs`)).href);
  if (typeof module.run !== "function") {
    throw new Error(`bench/groups/${name}.mjs must export \`async function run(report)\``);
  }
  const metrics = {};
  const report = (metric, value) => {
    if (typeof metric !== "string" || !/^[\w.-]+$/.test(metric)) {
      throw new Error(`Metric name ${JSON.stringify(metric)} in group ${name} must be letters, digits, _ . -`);
    }
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new Error(`Metric ${metric} in group ${name} must be a finite number, got ${String(value)}`);
    }
    // A group may also report under the prefixes its issue names (bench/groups/postgres.mjs: store.pg., refresh.pg.).
    const prefixes = [`${name}.`, ...(Array.isArray(module.metricPrefixes) ? module.metricPrefixes : [])];
    if (!prefixes.some((prefix) => metric.startsWith(prefix))) {
      process.stderr.write(`[bench] warning: metric ${metric} does not start with its group name "${name}."\n`);
    }
    metrics[metric] = value;
    process.stdout.write(`${metric} ${value}\n`);
  };
  const started = performance.now();
  process.stderr.write(`[bench] group ${name}\n`);
  await module.run(report);
  process.stderr.write(`[bench] group ${name} done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  // Only a complete group replaces its previous figures: a crash halfway must not mix two runs.
  await writeResults(name, metrics);
}

async function main() {
  const requested = process.argv.slice(2);
  const groups = await listGroups();
  const unknown = requested.filter((name) => !groups.includes(name));
  if (unknown.length > 0) {
    process.stderr.write(
      `Unknown benchmark group${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")}. ` +
        `Available groups: ${groups.length > 0 ? groups.join(", ") : "(none)"}.\n` +
        "Usage: pnpm bench [group ...]\n",
    );
    process.exitCode = 2;
    return;
  }
  const selected = requested.length > 0 ? requested : groups;
  let failed = 0;
  for (const name of selected) {
    try {
      await runGroup(name);
    } catch (error) {
      failed++;
      process.stderr.write(`[bench] group ${name} failed; its previous figures are kept.\n`);
      process.stderr.write(`${error?.stack ?? String(error)}\n`);
    }
  }
  if (failed > 0) process.exitCode = 1;
  else process.stderr.write(`[bench] results in ${resultsPath}\n`);
}

await main();

// The cli group: how fast `credpool list` starts on a 100-credential pool, against the cost of starting node at
// all, measured interleaved in one run so machine load affects both alike. Target from issue 6: vs_floor <= 2.5.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { openPool } from "@credpool/pool-core";
import { median, round } from "../lib/stats.mjs";

const bin = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "packages", "pool-cli", "bin", "credpool.mjs");
const CREDENTIALS = 100;
const WARMUP = 3;
const SAMPLES = 25;

function log(line) {
  process.stderr.write(`[cli] ${line}\n`);
}

/** Wall time from spawn to exit; the child's output is drained but not kept. */
function timeProcess(args, env) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stdout.resume();
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.once("error", reject);
    child.once("exit", (code) => {
      const ms = performance.now() - started;
      if (code !== 0) reject(new Error(`${args.join(" ")} exited ${code}: ${stderr}`));
      else resolve(ms);
    });
  });
}

async function seedPool(path) {
  const pool = await openPool({ file: { path } });
  try {
    const providers = ["anthropic", "openai", "openrouter", "custom:local"];
    await Promise.all(
      Array.from({ length: CREDENTIALS }, (_, i) =>
        pool.add({
          provider: providers[i % providers.length],
          label: `key-${i}`,
          secrets: { apiKey: `sk-bench-${i}-`.padEnd(64, "x") },
          ...(providers[i % providers.length] === "custom:local" ? { baseUrl: "http://127.0.0.1:9/v1" } : {}),
        }),
      ),
    );
    // A realistic mix of statuses so `list` renders cooldowns, not only "ok".
    for (let i = 0; i < 10; i++) {
      const target = pool.list()[i * 7];
      if (target)
        await pool.report(target.credential.id, { error: { status: 429, headers: { "retry-after": "600" } } });
    }
  } finally {
    await pool.close();
  }
}

export async function run(report) {
  const dir = await mkdtemp(join(tmpdir(), "credpool-bench-cli-"));
  try {
    const path = join(dir, "pool.json");
    await seedPool(path);
    const listArgs = [bin, "--pool", path, "list"];
    const floorArgs = ["-e", "0"];
    for (let i = 0; i < WARMUP; i++) {
      await timeProcess(floorArgs);
      await timeProcess(listArgs);
    }
    const floor = [];
    const list = [];
    for (let i = 0; i < SAMPLES; i++) {
      // Alternate the order so neither always runs right after the other's page-cache warm-up.
      if (i % 2 === 0) {
        floor.push(await timeProcess(floorArgs));
        list.push(await timeProcess(listArgs));
      } else {
        list.push(await timeProcess(listArgs));
        floor.push(await timeProcess(floorArgs));
      }
    }
    const listMs = median(list);
    const floorMs = median(floor);
    log(`${SAMPLES} samples each; list p50 ${round(listMs)} ms, node -e 0 p50 ${round(floorMs)} ms`);
    report("cli.list.wall_ms", round(listMs));
    report("cli.node_floor_ms", round(floorMs));
    report("cli.list.vs_floor", round(listMs / floorMs));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// `pnpm verify`: runs spin on every model, variant and mutant in models/, two at a time. A real model must pass; a
// mutant or an admitted-window variant must be refuted with the expected error. `--trails` rewrites
// models/trails/*.txt from the counterexamples of the window variants.
import { spawn } from "node:child_process";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const modelsDir = dirname(fileURLToPath(import.meta.url));
const writeTrails = process.argv.includes("--trails");
const only = process.argv.slice(2).find((arg) => !arg.startsWith("--"));

const STORE = "store-commit.pml";
const REFRESH = "refresh.pml";
// Exhaustive runs store states compressed (COLLAPSE); bitstate runs a 2^24-bit hash for the larger N.
const EXHAUSTIVE = ["-DSAFETY", "-DCOLLAPSE"];
const BITSTATE = ["-DSAFETY", "-DBITSTATE"];

/**
 * expect: "pass", or the text pan prints for the error that must be found ("assertion violated <expr>",
 * "invalid end state", "acceptance cycle").
 */
const runs = [
  // Store commit: one fault (crash, short write or power loss) and one pause past stale, 3 writers (one with a
  // second, group-committed update) and a reader.
  { name: "store N=3", model: STORE, defs: [], expect: "pass" },
  { name: "store N=4 bitstate", model: STORE, defs: ["-DN=4"], bitstate: true, expect: "pass" },
  {
    name: "store window: pause between fence and rename",
    model: STORE,
    defs: ["-DPAUSE_WINDOW", "-DPROPS=1"],
    expect: "assertion violated ((d_set&acked)==acked)",
    trail: "fence-rename-pause.txt",
    story:
      "A writer holds the lock, reads rev r and passes the fence, then pauses past `stale` before its rename. Another " +
      "writer breaks the stale lock, reads rev r, commits rev r+1 and acknowledges it. The paused writer wakes and " +
      "renames its own rev r+1 over it: the acknowledged update is gone (pauser = the pause; proc numbers are writers).",
  },
  {
    name: "mutant store: fencing removed (lost update)",
    model: STORE,
    defs: ["-DM_NO_FENCE", "-DPROPS=1"],
    expect: "assertion violated ((d_set&acked)==acked)",
  },
  {
    name: "mutant store: fencing removed (rev goes back)",
    model: STORE,
    defs: ["-DM_NO_FENCE", "-DPROPS=2"],
    expect: "assertion violated (d_rev>old)",
  },
  {
    name: "mutant store: ack before directory fsync",
    model: STORE,
    defs: ["-DM_ACK_BEFORE_FSYNC"],
    expect: "assertion violated ((d_set&acked)==acked)",
  },
  { name: "mutant store: write in place", model: STORE, defs: ["-DM_IN_PLACE"], expect: "assertion violated d_whole" },
  {
    name: "mutant store: no size check before rename",
    model: STORE,
    defs: ["-DM_NO_SIZE_CHECK"],
    expect: "assertion violated d_whole",
  },
  {
    name: "mutant store: lock released before commit",
    model: STORE,
    defs: ["-DM_RELEASE_EARLY"],
    expect: "assertion violated ((pauses>0)||(crashes>0))",
  },
  {
    name: "mutant store: no stale takeover",
    model: STORE,
    defs: ["-DM_NO_STALE_TAKEOVER"],
    expect: "invalid end state",
  },
  {
    name: "mutant store: fence failure keeps the lock",
    model: STORE,
    defs: ["-DM_ABORT_KEEPS_LOCK"],
    expect: "invalid end state",
  },

  // Refresh: one pause past stale, plus either one fault (crash or lost answer) or one re-login, 3 processes.
  { name: "refresh N=3 crash/lost answer", model: REFRESH, defs: ["-DMAXRELOGIN=0"], expect: "pass" },
  { name: "refresh N=3 re-login", model: REFRESH, defs: ["-DMAXFAULT=0"], expect: "pass" },
  { name: "refresh N=3 liveness (weak fairness)", model: REFRESH, defs: ["-DLIVE"], live: true, expect: "pass" },
  {
    name: "refresh N=4 bitstate crash/lost answer",
    model: REFRESH,
    defs: ["-DN=4", "-DMAXRELOGIN=0"],
    bitstate: true,
    expect: "pass",
  },
  {
    name: "refresh window: holder paused past timeout + grace",
    model: REFRESH,
    defs: ["-DLONG_PAUSE", "-DPROPS=1", "-DMAXRELOGIN=0"],
    expect: "assertion violated ((sends[sent]==0)||crashed[sender[sent]])",
    trail: "long-pause-resend.txt",
    story:
      "A process marks the credential in flight and is paused past the request timeout plus the grace while it holds " +
      "the lock. Another process breaks the stale lock, takes the marker for abandoned (isHolderAlive) and sends the " +
      "same refresh token again, while the first is still alive.",
  },
  {
    name: "mutant refresh: in-flight marker ignored",
    model: REFRESH,
    defs: ["-DM_NO_MARKER", "-DMAXRELOGIN=0"],
    expect: "assertion violated ((sends[sent]==0)||crashed[sender[sent]])",
  },
  {
    name: "mutant refresh: marker CAS is a plain write",
    model: REFRESH,
    defs: ["-DM_PLAIN_MARKER", "-DMAXRELOGIN=0"],
    expect: "assertion violated ((sends[sent]==0)||crashed[sender[sent]])",
  },
  {
    name: "mutant refresh: marker CAS on the token only",
    model: REFRESH,
    defs: ["-DM_MARKER_TOKEN_ONLY", "-DMAXRELOGIN=0"],
    expect: "assertion violated ((sends[sent]==0)||crashed[sender[sent]])",
  },
  {
    name: "mutant refresh: commit CAS is a plain write",
    model: REFRESH,
    defs: ["-DM_PLAIN_COMMIT", "-DPROPS=4"],
    expect: "assertion violated (got>rt)",
  },
  {
    name: "mutant refresh: dead without the guarded re-read",
    model: REFRESH,
    defs: ["-DM_NO_FIND_NEWER", "-DPROPS=2"],
    expect: "assertion violated ((rt==sent)&&(pend==0))",
  },
  {
    name: "mutant refresh: lock never released",
    model: REFRESH,
    defs: ["-DM_NO_RELEASE", "-DPROPS=0", "-DMAXRELOGIN=0"],
    expect: "invalid end state",
  },
  {
    name: "mutant refresh: re-read and adopt skipped",
    model: REFRESH,
    defs: ["-DM_NO_ADOPT", "-DLIVE"],
    live: true,
    expect: "acceptance cycle",
  },
];

function run(command, args, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (chunk) => (out += chunk));
    child.stderr.on("data", (chunk) => (out += chunk));
    child.on("error", (error) =>
      reject(error.code === "ENOENT" ? new Error(`${command} is not installed (apt-get install -y spin gcc)`) : error),
    );
    child.on("close", (code) => resolve({ code, out }));
  });
}

function field(out, pattern) {
  const match = pattern.exec(out);
  return match ? match[1] : "?";
}

/** The counterexample in a few lines: the global assignments and checks, without the bookkeeping of locals. */
function summarizeTrail(text) {
  const keep =
    /\b(lk|lk_stale|d_rev|d_set|acked|pauses|killed|rt|sends|mk|dead|valid|mk_expired|res|rrev|fresh|fmk) = |assert|goto aborted/;
  const lines = text
    .split("\n")
    .filter((line) => /^\s*\d+:\s+proc/.test(line) && keep.test(line) && !/\[(fresh|fmk|res|rrev) = 0\]/.test(line))
    .map((line) => line.replace(/\s+/g, " ").trim());
  return lines.join("\n");
}

async function check(spec) {
  const dir = await mkdtemp(join(tmpdir(), "credpool-spin-"));
  try {
    await copyFile(join(modelsDir, spec.model), join(dir, spec.model));
    const started = performance.now();
    const gen = await run("spin", ["-a", ...spec.defs, spec.model], dir);
    if (gen.code !== 0) return { ...spec, ok: false, detail: `spin -a failed:\n${gen.out}` };
    const cflags = spec.live ? ["-DNFAIR=3", "-DCOLLAPSE"] : spec.bitstate ? BITSTATE : EXHAUSTIVE;
    // Runs expected to fail stop at the first error, so compiling fast beats searching fast there.
    const opt = spec.expect === "pass" ? "-O2" : "-O0";
    const cc = await run("gcc", [opt, "-w", ...cflags, "-o", "pan", "pan.c"], dir);
    if (cc.code !== 0) return { ...spec, ok: false, detail: `gcc failed:\n${cc.out}` };
    const panArgs = ["-m200000", ...(spec.live ? ["-a", "-f"] : []), ...(spec.bitstate ? ["-w24"] : [])];
    const pan = await run("./pan", panArgs, dir);
    const seconds = (performance.now() - started) / 1000;
    const errors = Number(field(pan.out, /errors: (\d+)/));
    const found = /pan:1: (.*?) \(at depth/.exec(pan.out)?.[1] ?? (errors > 0 ? "error" : "");
    const truncated = /max search depth too small/.test(pan.out);
    const ok =
      !truncated && (spec.expect === "pass" ? errors === 0 && pan.code === 0 : errors > 0 && found === spec.expect);
    const result = {
      ...spec,
      ok,
      found,
      states: field(pan.out, /(\d+) states, stored/),
      depth: field(pan.out, /depth reached (\d+)/),
      seconds,
      detail: ok ? "" : truncated ? "search depth (-m) too small" : pan.out.split("\n").slice(0, 30).join("\n"),
    };
    if (ok && spec.trail && writeTrails) {
      const replay = await run("spin", ["-t", "-p", "-g", ...spec.defs, spec.model], dir);
      const header =
        `# ${spec.name}\n# spin ${spec.defs.join(" ")} models/${spec.model}: ${found}\n` +
        `# ${spec.story}\n` +
        `# Produced by \`node models/verify.mjs --trails\` from \`spin -t -p -g\`; only steps on shared state.\n`;
      await writeFile(join(modelsDir, "trails", spec.trail), `${header}${summarizeTrail(replay.out)}\n`);
    }
    return result;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const selected = runs.filter((spec) => !only || spec.name.includes(only));
const results = new Array(selected.length);
let next = 0;
async function worker() {
  while (next < selected.length) {
    const index = next++;
    results[index] = await check(selected[index]);
    const r = results[index];
    const kind = r.bitstate ? "bitstate" : r.live ? "exhaustive+fair" : "exhaustive";
    const verdict = r.expect === "pass" ? (r.ok ? "holds" : "FAILS") : r.ok ? `refuted: ${r.found}` : "NOT REFUTED";
    console.log(
      `${r.ok ? "ok  " : "FAIL"} ${r.name} [${kind}] ${verdict}; states ${r.states}, depth ${r.depth}, ${r.seconds.toFixed(1)} s`,
    );
    if (!r.ok) console.log(r.detail);
  }
}
await Promise.all([worker(), worker()]);
const failed = results.filter((r) => !r.ok);
console.log(
  failed.length === 0 ? `verify: ${results.length} runs as expected` : `verify: ${failed.length} runs failed`,
);
process.exitCode = failed.length === 0 ? 0 : 1;

// Preload (`node --import`): SIGKILLs this process at CREDPOOL_CRASH_AT=<step>:<before|after>, like a power cut
// or OOM kill at that exact point of a commit. See test/store/crash-points.test.ts.
import { interceptSteps, parseStepSpec } from "./fs-steps.mjs";

const { step, value: phase } = parseStepSpec("CREDPOOL_CRASH_AT");
if (phase !== "before" && phase !== "after") throw new Error(`CREDPOOL_CRASH_AT phase must be before or after`);

interceptSteps((current, currentPhase) => {
  // SIGKILL to ourselves is delivered before kill() returns: no exit handler or pending callback runs.
  if (current === step && currentPhase === phase) process.kill(process.pid, "SIGKILL");
  return undefined;
});

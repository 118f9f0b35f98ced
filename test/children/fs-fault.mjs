// Preload (`node --import`): fails the first occurrence of a commit step with an errno, as a full disk, a bad
// sector or a permission change would: CREDPOOL_FAULT=<step>:<EIO|ENOSPC|EPERM>. See
// test/store/fault-injection.test.ts.
import { constants } from "node:os";
import { interceptSteps, parseStepSpec } from "./fs-steps.mjs";

const { step, value: code } = parseStepSpec("CREDPOOL_FAULT");
const errno = constants.errno[code];
if (errno === undefined) throw new Error(`CREDPOOL_FAULT: unknown errno ${code}`);

let fired = false;
interceptSteps((current, phase) => {
  if (fired || current !== step || phase !== "before") return undefined;
  fired = true;
  // Shaped like a real libuv error: negative errno, string code, syscall.
  return Object.assign(new Error(`${code}: injected fault, ${step}`), { errno: -errno, code, syscall: step });
});

// Rewrites a source file once with rewriteSourceFile, setting --field to --value, and prints the outcome as JSON:
// {"written":true} or {"error":{"code","message"}}. Run under a file-size limit to meet a real short write.
// Internal to pool-core (not in its public exports), so the built module is imported by path.
import { rewriteSourceFile } from "../../packages/pool-core/dist/sources/source-file.js";
import { emit, parseFlags } from "./child-io.mjs";

const flags = parseFlags();
try {
  const written = await rewriteSourceFile(flags.path, (json) => ({ ...json, [flags.field]: flags.value }));
  emit({ written });
} catch (error) {
  emit({ error: { code: error.code, message: error.message } });
}

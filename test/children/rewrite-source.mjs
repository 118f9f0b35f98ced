// Rewrites a source file once with rewriteSourceFile, setting --field to --value, and prints the outcome as JSON:
// {"written":true} or {"error":{"code","message"}}. Run under a file-size limit to meet a real short write.
import { rewriteSourceFile } from "@credpool/pool-core";
import { emit, parseFlags } from "./child-io.mjs";

const flags = parseFlags();
try {
  const written = await rewriteSourceFile(flags.path, (json) => ({ ...json, [flags.field]: flags.value }));
  emit({ written });
} catch (error) {
  emit({ error: { code: error.code, message: error.message } });
}

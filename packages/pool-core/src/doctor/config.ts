// config.json for `credpool doctor`: whether it loads, and each key it holds that this build ignores or renamed.
import { loadCredpoolConfig } from "../config/load-config.js";
import type { DoctorFinding } from "./inspect.js";

export interface InspectConfigOptions {
  /** The credpool directory that holds config.json. */
  readonly home: string;
  readonly env?: NodeJS.ProcessEnv;
}

export async function inspectConfig(options: InspectConfigOptions): Promise<DoctorFinding[]> {
  let loaded;
  try {
    loaded = await loadCredpoolConfig({ home: options.home, ...(options.env ? { env: options.env } : {}) });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return [
      { check: "config", severity: "error", message, fix: "Fix config.json or the CREDPOOL_* variables named above." },
    ];
  }
  if (loaded.warnings.length === 0) {
    return [
      {
        check: "config",
        severity: "ok",
        message: loaded.fileExists ? `${loaded.path}: every key is known` : "no config.json: defaults apply",
      },
    ];
  }
  return loaded.warnings.map((warning) => ({
    check: "config",
    severity: "warning",
    message: warning.message,
    fix: `Fix or remove \`${warning.key}\` in ${warning.file}.`,
  }));
}

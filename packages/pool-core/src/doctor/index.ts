// Pool health checks for `credpool doctor`: what is wrong with the files around a pool, and the safe repairs.
export { inspectConfig, type InspectConfigOptions } from "./config.js";
export { inspectPool, type DoctorFinding, type FindingSeverity, type InspectPoolOptions } from "./inspect.js";
export {
  repairPool,
  restorePoolBackup,
  type RepairAction,
  type RepairPoolOptions,
  type RestoreResult,
} from "./repair.js";

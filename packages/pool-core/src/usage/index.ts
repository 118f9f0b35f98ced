// Token usage of proxied requests: the usage document, its batched recorder, and the report `credpool usage` prints.
export {
  USAGE_FILE_NAME,
  USAGE_RETENTION_MS,
  createUsageRecorder,
  openUsageBackend,
  usageBucketSchema,
  usageDocumentSchema,
  usageLocation,
  usagePathFor,
  type TokenCounts,
  type UsageBucket,
  type UsageDocument,
  type UsageEntry,
  type UsageRecorder,
  type UsageRecorderOptions,
} from "./usage-store.js";
export {
  USAGE_GROUPINGS,
  costOf,
  findPrice,
  modelPriceSchema,
  pricesConfigSchema,
  summarizeUsage,
  type ModelPrice,
  type PriceTable,
  type UsageGrouping,
  type UsageRow,
} from "./usage-report.js";

// Structured logs. Redaction is configured here and proven by test/gateway redaction tests.
import { destination, pino, type DestinationStream, type Logger } from "pino";

export const REDACTED_PATHS = [
  "token",
  "apiKey",
  "accessToken",
  "refreshToken",
  "secret",
  "code",
  "authorization",
  "headers.authorization",
  "*.token",
  "*.apiKey",
  "*.accessToken",
  "*.refreshToken",
  "*.secret",
  "*.authorization",
  // Whole credential objects and OAuth token responses, should one ever reach a log line.
  "secrets",
  "*.secrets",
  "sessionToken",
  "*.sessionToken",
  "access_token",
  "refresh_token",
  "*.access_token",
  "*.refresh_token",
];

export function createGatewayLogger(options: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.CREDPOOL_LOG_LEVEL ?? "info",
      base: { service: "credpool-gateway" },
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    },
    // Synchronous stdout by default: shutdown lines are not lost at exit, and per-lease lines are debug-level.
    options.destination ?? destination(1),
  );
}

/** The last four characters only, for principals and ids in audit lines. */
export function maskValue(value: string): string {
  return value.length <= 4 ? "****" : `…${value.slice(-4)}`;
}

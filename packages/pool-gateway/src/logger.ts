// Structured logs. Redaction is configured here and proven by test/gateway redaction tests.
import { writeSync } from "node:fs";
import { pino, type DestinationStream, type Logger } from "pino";

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

/** How long one line may wait for a full pipe to drain before it is dropped. */
const STALLED_WRITE_MS = 100;

/**
 * Synchronous stdout, so that shutdown lines are not lost at exit. pino's own destination (sonic-boom) retries every
 * failed write 10 times a second without end, so once the reader of a piped stdout had exited (`| head`, a log
 * shipper that died) the next line, SIGTERM's included, froze the event loop for good. Here a reader that is gone
 * (EPIPE, or any other error) ends logging to stdout, and a line that a full pipe does not take within
 * STALLED_WRITE_MS is dropped. See test/gateway/shutdown.test.ts.
 */
export function stdoutDestination(fd = 1): DestinationStream {
  let gone = false;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  return {
    write(line: string): void {
      if (gone) return;
      let bytes = Buffer.from(line, "utf8");
      const deadline = performance.now() + STALLED_WRITE_MS;
      while (bytes.length > 0) {
        try {
          bytes = bytes.subarray(writeSync(fd, bytes));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "EAGAIN") {
            gone = true;
            return;
          }
          if (performance.now() >= deadline) return;
          Atomics.wait(pause, 0, 0, 1);
        }
      }
    },
  };
}

export function createGatewayLogger(options: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.CREDPOOL_LOG_LEVEL ?? "info",
      base: { service: "credpool-gateway" },
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    },
    // Synchronous stdout by default: shutdown lines are not lost at exit, and per-lease lines are debug-level.
    options.destination ?? stdoutDestination(),
  );
}

/** The last four characters only, for principals and ids in audit lines. */
export function maskValue(value: string): string {
  return value.length <= 4 ? "****" : `…${value.slice(-4)}`;
}

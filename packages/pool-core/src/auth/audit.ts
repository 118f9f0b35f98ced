// Structured audit events for the TOTP gate. Principals are masked (a stable hash keeps them correlatable), and a
// principal hammering the gate produces one line per window plus a count, not one line per attempt.
import { createHash } from "node:crypto";
import { appendFile, chmod } from "node:fs/promises";
import { errnoCode } from "../errors.js";

export const AUDIT_EVENT_TYPES = [
  "totp.verify.ok",
  "totp.verify.fail",
  "totp.verify.replay",
  "totp.verify.malformed",
  "totp.lockout.start",
  "totp.lockout.end",
  "auth.denied",
  "totp.reset",
  "totp.reset.refused",
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export interface AuditEvent {
  readonly type: AuditEventType;
  /** ISO time. */
  readonly at: string;
  /** Masked; see maskPrincipal. */
  readonly principal: string;
  /** What was being authorised, e.g. "reveal anthropic/work". */
  readonly action?: string;
  readonly reason?: string;
  readonly failures?: number;
  /** When a lockout or burst block ends, ISO time. */
  readonly until?: string;
  /** `totp.reset`: whether it went without a code, and how that was allowed. */
  readonly forced?: boolean;
  /** Earlier events of this type and principal folded into this one by the throttle. */
  readonly suppressed?: number;
}

export type AuditSink = (event: AuditEvent) => void;

/** Next to the pool: every credpool process appends its TOTP audit events here, as JSON lines. */
export const AUDIT_LOG_FILE_NAME = "audit.log";

/** `ali…#3f2a9c`: enough to tell principals apart in a log, not enough to name them. */
export function maskPrincipal(principal: string): string {
  const tag = createHash("sha256").update(principal).digest("hex").slice(0, 6);
  const visible = principal.length > 6 ? principal.slice(0, 3) : principal.slice(0, 1);
  return `${visible}…#${tag}`;
}

export interface AuditThrottle {
  record(event: AuditEvent): void;
  /** Emits a summary for every count still held back. */
  flush(): void;
}

/**
 * Passes the first event of each (type, principal) through, then folds repeats within `windowMs` into a count that
 * rides on the next event let through. A throwing sink never breaks the gate.
 */
export function createAuditThrottle(options: {
  sink: AuditSink | undefined;
  windowMs: number;
  clock?: () => number;
}): AuditThrottle {
  const { sink, windowMs } = options;
  const clock = options.clock ?? Date.now;
  const recent = new Map<string, { emittedAt: number; suppressed: number; last: AuditEvent }>();

  const deliver = (event: AuditEvent): void => {
    if (!sink) return;
    try {
      sink(event);
    } catch {
      // Auditing must not turn a decision into a crash; the decision itself is already made.
    }
  };

  return {
    record(event) {
      if (windowMs <= 0) return deliver(event);
      const now = clock();
      const key = `${event.type}\u0000${event.principal}`;
      const seen = recent.get(key);
      if (seen && now - seen.emittedAt < windowMs) {
        seen.suppressed += 1;
        seen.last = event;
        return;
      }
      recent.set(key, { emittedAt: now, suppressed: 0, last: event });
      deliver(seen && seen.suppressed > 0 ? { ...event, suppressed: seen.suppressed } : event);
      // Keep the map small in a long-lived gateway.
      if (recent.size > 1000) {
        for (const [name, entry] of recent)
          if (now - entry.emittedAt >= windowMs && entry.suppressed === 0) recent.delete(name);
      }
    },
    flush() {
      for (const [key, entry] of recent) {
        if (entry.suppressed > 0) deliver({ ...entry.last, suppressed: entry.suppressed - 1 });
        recent.delete(key);
      }
    },
  };
}

export interface AuditFileSink {
  readonly sink: AuditSink;
  /** Resolves when every event so far is on disk (or failed to get there). */
  flush(): Promise<void>;
}

/** Appends events as JSON lines to a 0600 file, in order, without blocking the caller. */
export function createAuditFileSink(path: string, onError: (error: unknown) => void = () => undefined): AuditFileSink {
  let chain: Promise<void> = Promise.resolve();
  let modeChecked = false;
  const sink: AuditSink = (event) => {
    const line = `${JSON.stringify(event)}\n`;
    chain = chain.then(async () => {
      try {
        await appendFile(path, line, { mode: 0o600 });
        if (!modeChecked) {
          modeChecked = true;
          await chmod(path, 0o600);
        }
      } catch (error) {
        if (errnoCode(error) !== "ENOENT") onError(error);
      }
    });
  };
  return { sink, flush: () => chain };
}

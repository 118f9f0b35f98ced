// Session affinity: the requests of one conversation keep one credential, so the provider's prompt cache (which is
// per account) keeps working. Bindings live in this process only, with a sliding TTL and a bounded LRU; the pool
// honours a binding only while that credential can serve (see SelectOptions.prefer), so a session never stays on a
// benched, dead or full credential. See DESIGN.md "Proxy" and test/proxy/affinity.test.ts.
import { createHash } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { jsonBodyOf } from "./json-body.js";

/** Where a session key came from, in the order they are looked for. */
export type SessionSource =
  "x-credpool-session" | "x-claude-code-session-id" | "metadata.user_id" | "prompt_cache_key" | "user";

export interface SessionKey {
  readonly source: SessionSource;
  readonly value: string;
}

/** Longer values are not a conversation id anyone sends; such a key is ignored rather than hashed at length. */
const MAX_KEY_LENGTH = 1024;

function usable(value: unknown): value is string {
  return typeof value === "string" && value.trim() !== "" && value.length <= MAX_KEY_LENGTH;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return usable(first) ? first.trim() : undefined;
}

/**
 * The conversation a request belongs to: our own header, Claude Code's session header, Anthropic's
 * `metadata.user_id` (Claude Code puts its session in it), then OpenAI's `prompt_cache_key` or `user`. Undefined
 * when none is there: such a request gets no affinity.
 */
export function sessionKeyOf(
  headers: IncomingHttpHeaders,
  body: Buffer,
  contentType: string | undefined,
): SessionKey | undefined {
  for (const source of ["x-credpool-session", "x-claude-code-session-id"] as const) {
    const value = headerValue(headers, source);
    if (value !== undefined) return { source, value };
  }
  if (body.length === 0 || !(contentType ?? "").includes("json")) return undefined;
  const parsed = jsonBodyOf(body);
  if (parsed === undefined || parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return undefined;
  const fields = parsed as { metadata?: { user_id?: unknown } | null; prompt_cache_key?: unknown; user?: unknown };
  const userId = fields.metadata?.user_id;
  if (usable(userId)) return { source: "metadata.user_id", value: userId };
  if (usable(fields.prompt_cache_key)) return { source: "prompt_cache_key", value: fields.prompt_cache_key };
  if (usable(fields.user)) return { source: "user", value: fields.user };
  return undefined;
}

export interface SessionAffinityOptions {
  /** A binding unused this long is forgotten. */
  readonly ttlMs: number;
  /** Bindings kept at most; the least recently used is dropped first. 0 keeps none. */
  readonly maxSessions: number;
  readonly now?: () => number;
}

interface Binding {
  credentialId: string;
  lastUsedAt: number;
}

export interface SessionAffinity {
  /**
   * The binding's name for one session of one client on one route. Namespaced so two clients sending the same
   * session id never steer each other, and hashed so a long id costs the table no more than a short one.
   */
  bindingKey(route: string, clientId: string, session: SessionKey): string;
  /** The credential the session is bound to, if the binding is still alive; using it restarts its TTL. */
  preferred(bindingKey: string): string | undefined;
  /** Binds (or rebinds) the session to the credential now serving it. */
  bind(bindingKey: string, credentialId: string): void;
  /** Drops the binding: its credential failed, and the next one to serve takes the session. */
  forget(bindingKey: string): void;
  readonly size: number;
}

export function createSessionAffinity(options: SessionAffinityOptions): SessionAffinity {
  const now = options.now ?? Date.now;
  // A Map iterates in insertion order: re-inserting on use keeps the least recently used first.
  const bindings = new Map<string, Binding>();

  function evict(at: number): void {
    for (const [key, binding] of bindings) {
      if (bindings.size <= options.maxSessions && at - binding.lastUsedAt < options.ttlMs) break;
      bindings.delete(key);
    }
  }

  return {
    bindingKey(route, clientId, session) {
      return createHash("sha256")
        .update(`${route}\0${clientId}\0${session.source}\0${session.value}`)
        .digest("base64url");
    },
    preferred(bindingKey) {
      const binding = bindings.get(bindingKey);
      if (!binding) return undefined;
      const at = now();
      bindings.delete(bindingKey);
      if (at - binding.lastUsedAt >= options.ttlMs) return undefined;
      binding.lastUsedAt = at;
      bindings.set(bindingKey, binding);
      return binding.credentialId;
    },
    bind(bindingKey, credentialId) {
      if (options.maxSessions === 0) return;
      const at = now();
      bindings.delete(bindingKey);
      bindings.set(bindingKey, { credentialId, lastUsedAt: at });
      evict(at);
    },
    forget(bindingKey) {
      bindings.delete(bindingKey);
    },
    get size() {
      return bindings.size;
    },
  };
}

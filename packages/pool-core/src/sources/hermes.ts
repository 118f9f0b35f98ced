// hermes-agent's ~/.hermes/auth.json `credential_pool` ({provider: [entry, ...]}), imported once: entries, priorities
// and statuses map onto credpool credentials. The file is never written.
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { PoolError } from "../errors.js";
import { assertProviderName } from "../pool/index.js";
import { jwtExpiresAt } from "../refresh/index.js";
import type { CredentialSecrets, CredentialStatus } from "../store/schema.js";
import type { SourceFile } from "./source-file.js";
import type { CredentialCandidate, SkippedEntry } from "./types.js";

export function resolveHermesPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HERMES_HOME) return resolve(env.HERMES_HOME, "auth.json");
  return join(env.HOME || homedir(), ".hermes", "auth.json");
}

const MINUTE = 60_000;
/** hermes's own cooldowns when an exhausted entry carries no reset time. */
const HERMES_TTL_401_MS = 5 * MINUTE;
const HERMES_TTL_DEFAULT_MS = 60 * MINUTE;

const HEALTH_REASONS = new Set(["rate_limit", "billing", "unauthorized", "server"]);

/** hermes stores instants as epoch seconds, epoch milliseconds or ISO strings. */
function parseInstant(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value) && value > 0) {
    return Math.round(value > 1e12 ? value : value * 1000);
  }
  if (typeof value === "string" && value.trim() !== "") {
    const text = value.trim();
    if (/^\d+(\.\d+)?$/.test(text)) return parseInstant(Number(text));
    const parsed = Date.parse(text);
    return Number.isNaN(parsed) ? undefined : parsed;
  }
  return undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}

function integer(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) ? value : undefined;
}

/** credpool labels have no spaces or '#' and are at most 64 characters. */
function toLabel(raw: string): string {
  const label = raw
    .replace(/[\s#]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 64);
  return label === "" ? "hermes" : label;
}

function classifyCode(code: number | undefined): string {
  if (code === 401 || code === 403) return "unauthorized";
  if (code === 402) return "billing";
  if (code === 429) return "rate_limit";
  return "server";
}

function mapStatus(entry: Record<string, unknown>, now: number): CredentialStatus | undefined {
  const lastStatus = text(entry.last_status)?.toLowerCase();
  const since = parseInstant(entry.last_status_at);
  const code = integer(entry.last_error_code);
  const reason = text(entry.last_error_reason);
  const message = text(entry.last_error_message);
  const base = {
    ...(since !== undefined ? { since } : {}),
    ...(code !== undefined ? { httpStatus: code } : {}),
  };
  if (lastStatus === "dead") {
    return {
      state: "dead",
      ...base,
      reason: reason ?? "dead",
      message: `Marked dead in hermes${message ? `: ${message.replace(/\.$/, "")}` : ""}.`,
    };
  }
  if (lastStatus === "exhausted") {
    const resetAt = parseInstant(entry.last_error_reset_at);
    const until = resetAt ?? (since ?? now) + (code === 401 ? HERMES_TTL_401_MS : HERMES_TTL_DEFAULT_MS);
    // A bench that has already run out in hermes is simply available here.
    if (until <= now) return undefined;
    return {
      state: "exhausted",
      ...base,
      until,
      reason: reason && HEALTH_REASONS.has(reason) ? reason : classifyCode(code),
      ...(message ? { message: `Benched in hermes: ${message}` } : {}),
    };
  }
  return undefined;
}

function invalid(path: string, problem: string): PoolError {
  return new PoolError("E_SOURCE", `${path} is not a hermes auth file: ${problem}.`, { details: { path } });
}

/** Every importable entry of every provider, plus why the others were left out. */
export function parseHermesFile(
  file: SourceFile,
  now: number,
): { candidates: CredentialCandidate[]; skipped: SkippedEntry[] } {
  const { path, json } = file;
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw invalid(path, "it is not a JSON object");
  const pool = (json as Record<string, unknown>).credential_pool;
  const candidates: CredentialCandidate[] = [];
  const skipped: SkippedEntry[] = [];
  if (pool === undefined || pool === null) return { candidates, skipped };
  if (typeof pool !== "object" || Array.isArray(pool)) throw invalid(path, "credential_pool is not an object");

  for (const [provider, entries] of Object.entries(pool as Record<string, unknown>)) {
    if (!Array.isArray(entries)) {
      skipped.push({ label: provider, reason: "not a list of credentials (hermes keeps other metadata here)" });
      continue;
    }
    try {
      assertProviderName(provider);
    } catch {
      skipped.push({ label: provider, reason: `"${provider}" is not a provider name credpool accepts` });
      continue;
    }
    entries.forEach((raw: unknown, index) => {
      if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
        skipped.push({ label: `${provider}#${index + 1}`, reason: "not an object" });
        return;
      }
      const entry = raw as Record<string, unknown>;
      const name = `${provider}/${text(entry.label) ?? text(entry.id) ?? `#${index + 1}`}`;
      const hermesSource = text(entry.source) ?? "manual";
      if (hermesSource === "claude_code") {
        // hermes mirrors Claude Code's own file here; importing a copy would give the login two refreshers.
        skipped.push({
          label: name,
          reason: "mirrors Claude Code's credentials file; run `credpool import claude-code` instead",
        });
        return;
      }
      const accessToken = text(entry.access_token);
      const refreshToken = text(entry.refresh_token);
      const authType = text(entry.auth_type) === "oauth" || accessToken?.startsWith("sk-ant-oat") ? "oauth" : "api_key";
      let secrets: CredentialSecrets;
      if (authType === "api_key") {
        const apiKey = accessToken ?? text(entry.api_key);
        if (!apiKey) {
          skipped.push({ label: name, reason: "no key stored (hermes keeps only a reference to it)" });
          return;
        }
        secrets = { apiKey };
      } else {
        if (!accessToken && !refreshToken) {
          skipped.push({ label: name, reason: "no tokens stored (hermes keeps only a reference to them)" });
          return;
        }
        const expiresAt = integer(entry.expires_at_ms) ?? parseInstant(entry.expires_at) ?? jwtExpiresAt(accessToken);
        secrets = {
          ...(accessToken ? { accessToken } : {}),
          ...(refreshToken ? { refreshToken } : {}),
          ...(expiresAt !== undefined ? { expiresAt } : {}),
        };
      }
      const baseUrl = text(entry.base_url);
      if (provider.startsWith("custom:") && !baseUrl) {
        skipped.push({ label: name, reason: `${provider} is a custom endpoint but the entry has no base_url` });
        return;
      }
      const status = mapStatus(entry, now);
      const requests = integer(entry.request_count);
      candidates.push({
        provider,
        kind: authType,
        source: "hermes",
        label: toLabel(text(entry.label) ?? text(entry.id) ?? provider),
        priority: integer(entry.priority) ?? index,
        ...(baseUrl && /^https?:\/\//.test(baseUrl) ? { baseUrl } : {}),
        secrets,
        ...(status ? { status } : {}),
        ...(requests !== undefined && requests >= 0 ? { requests } : {}),
        extra: {
          ...(text(entry.id) ? { hermesId: text(entry.id) } : {}),
          hermesSource,
        },
      });
    });
  }
  return { candidates, skipped };
}

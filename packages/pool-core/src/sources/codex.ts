// The Codex CLI auth file: {auth_mode?, OPENAI_API_KEY, tokens: {id_token, access_token, refresh_token, account_id},
// last_refresh}. The access token is a JWT; its `exp` is the expiry.
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { PoolError } from "../errors.js";
import { jwtExpiresAt, openaiAccountId } from "../refresh/index.js";
import type { Credential } from "../store/schema.js";
import type { SourceFile } from "./source-file.js";
import type { CredentialCandidate } from "./types.js";

export function resolveCodexPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CODEX_HOME) return resolve(env.CODEX_HOME, "auth.json");
  return join(env.HOME || homedir(), ".codex", "auth.json");
}

function invalid(path: string, problem: string): PoolError {
  return new PoolError("E_SOURCE", `${path} is not a Codex auth file: ${problem}.`, { details: { path } });
}

function optionalString(value: unknown, path: string, field: string): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") throw invalid(path, `${field} is not a string`);
  return value;
}

/** A ChatGPT login (provider openai-codex) and/or an API key (provider openai). */
export function parseCodexFile(file: SourceFile): CredentialCandidate[] {
  const { path, json } = file;
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw invalid(path, "it is not a JSON object");
  const root = json as Record<string, unknown>;
  const candidates: CredentialCandidate[] = [];
  const tokens = root.tokens;
  if (tokens !== undefined && tokens !== null) {
    if (typeof tokens !== "object" || Array.isArray(tokens)) throw invalid(path, "tokens is not an object");
    const record = tokens as Record<string, unknown>;
    const accessToken = optionalString(record.access_token, path, "tokens.access_token");
    const refreshToken = optionalString(record.refresh_token, path, "tokens.refresh_token");
    const idToken = optionalString(record.id_token, path, "tokens.id_token");
    const accountId =
      optionalString(record.account_id, path, "tokens.account_id") ?? openaiAccountId(idToken, accessToken);
    const expiresAt = jwtExpiresAt(accessToken);
    if (accessToken || refreshToken) {
      candidates.push({
        provider: "openai-codex",
        kind: "oauth",
        source: "codex",
        sourcePath: path,
        label: "codex",
        secrets: {
          ...(accessToken ? { accessToken } : {}),
          ...(refreshToken ? { refreshToken } : {}),
          ...(expiresAt !== undefined ? { expiresAt } : {}),
          ...(idToken ? { idToken } : {}),
          ...(accountId ? { accountId } : {}),
        },
        sourceMtimeMs: file.mtimeMs,
      });
    }
  }
  const apiKey = optionalString(root.OPENAI_API_KEY, path, "OPENAI_API_KEY");
  if (apiKey) {
    candidates.push({
      provider: "openai",
      kind: "api_key",
      source: "codex",
      sourcePath: path,
      label: "codex-api-key",
      secrets: { apiKey },
      sourceMtimeMs: file.mtimeMs,
    });
  }
  return candidates;
}

export function codexRefreshToken(json: unknown): string | undefined {
  const tokens = (json as { tokens?: { refresh_token?: unknown } } | null)?.tokens;
  return typeof tokens?.refresh_token === "string" ? tokens.refresh_token : undefined;
}

/** Puts the credential's pair into the file's JSON, keeping every other field, and stamps last_refresh like Codex. */
export function patchCodexFile(json: unknown, credential: Credential, now: number): unknown {
  const root = json as Record<string, unknown>;
  const tokens = root.tokens as Record<string, unknown>;
  tokens.access_token = credential.secrets.accessToken;
  tokens.refresh_token = credential.secrets.refreshToken;
  if (credential.secrets.idToken) tokens.id_token = credential.secrets.idToken;
  if (credential.secrets.accountId) tokens.account_id = credential.secrets.accountId;
  root.last_refresh = new Date(now).toISOString();
  return root;
}

// Claude Code's credentials file: {"claudeAiOauth": {accessToken, refreshToken, expiresAt (epoch ms), scopes, ...}}.
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { PoolError } from "../errors.js";
import type { Credential } from "../store/schema.js";
import type { SourceFile } from "./source-file.js";
import type { CredentialCandidate } from "./types.js";

export function resolveClaudeCodePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CLAUDE_CONFIG_DIR) return resolve(env.CLAUDE_CONFIG_DIR, ".credentials.json");
  return join(env.HOME || homedir(), ".claude", ".credentials.json");
}

function invalid(path: string, problem: string): PoolError {
  return new PoolError("E_SOURCE", `${path} is not a Claude Code credentials file: ${problem}.`, { details: { path } });
}

function optionalString(value: unknown, path: string, field: string): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") throw invalid(path, `claudeAiOauth.${field} is not a string`);
  return value;
}

/** The file's OAuth login, or nothing when Claude Code is logged out. */
export function parseClaudeCodeFile(file: SourceFile): CredentialCandidate[] {
  const { path, json } = file;
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw invalid(path, "it is not a JSON object");
  const oauth = (json as Record<string, unknown>).claudeAiOauth;
  if (oauth === undefined || oauth === null) return [];
  if (typeof oauth !== "object" || Array.isArray(oauth)) throw invalid(path, "claudeAiOauth is not an object");
  const record = oauth as Record<string, unknown>;
  const accessToken = optionalString(record.accessToken, path, "accessToken");
  const refreshToken = optionalString(record.refreshToken, path, "refreshToken");
  if (!accessToken && !refreshToken) return [];
  const expiresAt = record.expiresAt;
  if (expiresAt !== undefined && expiresAt !== null && (typeof expiresAt !== "number" || !Number.isFinite(expiresAt))) {
    throw invalid(path, "claudeAiOauth.expiresAt is not a number of epoch milliseconds");
  }
  const meta: Record<string, unknown> = {};
  for (const key of ["subscriptionType", "rateLimitTier", "scopes"]) {
    if (record[key] !== undefined && record[key] !== null) meta[key] = record[key];
  }
  return [
    {
      provider: "anthropic",
      kind: "oauth",
      source: "claude-code",
      sourcePath: path,
      label: "claude-code",
      secrets: {
        ...(accessToken ? { accessToken } : {}),
        ...(refreshToken ? { refreshToken } : {}),
        ...(typeof expiresAt === "number" ? { expiresAt: Math.round(expiresAt) } : {}),
      },
      sourceMtimeMs: file.mtimeMs,
      extra: Object.keys(meta).length > 0 ? { sourceMeta: meta } : {},
    },
  ];
}

/** The refresh token currently in the file. */
export function claudeCodeRefreshToken(json: unknown): string | undefined {
  const oauth = (json as { claudeAiOauth?: { refreshToken?: unknown } } | null)?.claudeAiOauth;
  return typeof oauth?.refreshToken === "string" ? oauth.refreshToken : undefined;
}

/** Puts the credential's pair into the file's JSON, keeping every other field. */
export function patchClaudeCodeFile(json: unknown, credential: Credential): unknown {
  const root = json as Record<string, unknown>;
  const oauth = root.claudeAiOauth as Record<string, unknown>;
  oauth.accessToken = credential.secrets.accessToken;
  oauth.refreshToken = credential.secrets.refreshToken;
  if (credential.secrets.expiresAt !== undefined) oauth.expiresAt = credential.secrets.expiresAt;
  return root;
}

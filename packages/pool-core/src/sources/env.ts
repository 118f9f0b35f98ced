// API keys from environment variables. Seeding only adds: a process without the variable never removes anything.
import { PoolError } from "../errors.js";
import { assertProviderName } from "../pool/index.js";
import type { CredentialCandidate, SkippedEntry } from "./types.js";

export const DEFAULT_ENV_VARS: Readonly<Record<string, string>> = {
  ANTHROPIC_API_KEY: "anthropic",
  OPENAI_API_KEY: "openai",
  OPENROUTER_API_KEY: "openrouter",
};

/**
 * The variable → provider map: explicit `vars`, else CREDPOOL_ENV_SOURCES ("VAR=provider,VAR2=provider2"), else the
 * defaults.
 */
export function resolveEnvMap(
  vars: Readonly<Record<string, string>> | undefined,
  env: NodeJS.ProcessEnv,
): Readonly<Record<string, string>> {
  if (vars) return vars;
  const configured = env.CREDPOOL_ENV_SOURCES?.trim();
  if (!configured) return DEFAULT_ENV_VARS;
  const map: Record<string, string> = {};
  for (const pair of configured.split(",")) {
    const [name, provider, ...rest] = pair.split("=").map((part) => part.trim());
    if (!name || !provider || rest.length > 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new PoolError(
        "E_INVALID_OPTIONS",
        `CREDPOOL_ENV_SOURCES entry "${pair.trim()}" is not VAR=provider (e.g. ANTHROPIC_API_KEY=anthropic).`,
      );
    }
    map[name] = provider;
  }
  return map;
}

export function readEnvCandidates(
  vars: Readonly<Record<string, string>>,
  env: NodeJS.ProcessEnv,
): { candidates: CredentialCandidate[]; skipped: SkippedEntry[] } {
  const candidates: CredentialCandidate[] = [];
  const skipped: SkippedEntry[] = [];
  for (const [name, provider] of Object.entries(vars)) {
    const value = env[name]?.trim();
    if (!value) continue;
    try {
      assertProviderName(provider);
    } catch (error) {
      skipped.push({ label: name, reason: (error as Error).message });
      continue;
    }
    if (provider.startsWith("custom:")) {
      skipped.push({ label: name, reason: `${provider} needs a base URL; add it with \`credpool add ${provider}\`` });
      continue;
    }
    candidates.push({
      provider,
      kind: "api_key",
      source: `env:${name}`,
      label: `env-${provider}`,
      secrets: { apiKey: value },
    });
  }
  return { candidates, skipped };
}

// Known providers and their defaults; any other name works, and `custom:<name>` is an OpenAI-compatible endpoint.
import { PoolError } from "../errors.js";

export interface ProviderDefaults {
  readonly baseUrl?: string;
  /** The environment variable tools conventionally read the key from. */
  readonly envVar: string;
}

export const KNOWN_PROVIDERS: Readonly<Record<string, ProviderDefaults>> = {
  anthropic: { baseUrl: "https://api.anthropic.com", envVar: "ANTHROPIC_API_KEY" },
  openai: { baseUrl: "https://api.openai.com/v1", envVar: "OPENAI_API_KEY" },
  "openai-codex": { baseUrl: "https://chatgpt.com/backend-api/codex", envVar: "OPENAI_API_KEY" },
  openrouter: { baseUrl: "https://openrouter.ai/api/v1", envVar: "OPENROUTER_API_KEY" },
};

const PROVIDER_NAME = /^(custom:)?[a-z0-9][a-z0-9._-]{0,63}$/;

export function assertProviderName(provider: string): void {
  if (!PROVIDER_NAME.test(provider)) {
    throw new PoolError(
      "E_INVALID_INPUT",
      `Invalid provider "${provider}": use lowercase letters, digits, ".", "_" or "-" (e.g. anthropic, openrouter, custom:local).`,
    );
  }
}

export function getProviderDefaults(provider: string): ProviderDefaults {
  const known = KNOWN_PROVIDERS[provider];
  if (known) return known;
  const name = provider
    .replace(/^custom:/, "")
    .toUpperCase()
    .replace(/[^A-Z0-9]/g, "_");
  return { envVar: `${name}_API_KEY` };
}

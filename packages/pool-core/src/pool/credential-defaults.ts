// A new credential: what `add` accepts, and the defaults it fills in (kind, id, label, priority, source, status).
import { z } from "zod";
import { PoolError, fromZodError } from "../errors.js";
import { randomId } from "../ids.js";
import {
  credentialSecretsSchema,
  type Credential,
  type CredentialSecrets,
  type PoolDocument,
} from "../store/schema.js";
import { assertProviderName } from "./providers.js";
import { listCredentials } from "./targets.js";

export interface AddCredentialInput {
  provider: string;
  kind?: "api_key" | "oauth";
  label?: string;
  priority?: number;
  source?: string;
  baseUrl?: string;
  maxConcurrent?: number;
  secrets: CredentialSecrets;
  /** Extra fields kept on the credential (e.g. a source's own metadata). */
  extra?: Record<string, unknown>;
}

const addInputSchema = z.object({
  provider: z.string().min(1),
  kind: z.enum(["api_key", "oauth"]).optional(),
  label: z
    .string()
    .trim()
    .min(1)
    .max(64)
    // eslint-disable-next-line no-control-regex
    .regex(/^[^\s#\x00-\x1f\x7f-\x9f]+$/, "labels have no spaces, # or control characters")
    .optional(),
  priority: z.number().int().min(-1_000_000).max(1_000_000).optional(),
  source: z.string().min(1).optional(),
  baseUrl: z.url({ protocol: /^https?$/ }).optional(),
  maxConcurrent: z.number().int().positive().max(10_000).optional(),
  secrets: credentialSecretsSchema,
  extra: z.record(z.string(), z.unknown()).optional(),
});

export type NewCredentialInput = z.output<typeof addInputSchema> & { kind: Credential["kind"] };

/** Validates `input` before any I/O: the secrets its kind needs, and a base URL for a custom endpoint. */
export function parseAddInput(input: AddCredentialInput): NewCredentialInput {
  const parsedInput = addInputSchema.safeParse(input);
  if (!parsedInput.success) throw fromZodError("E_INVALID_INPUT", "Invalid credential", parsedInput.error);
  const value = parsedInput.data;
  assertProviderName(value.provider);
  const kind = value.kind ?? (value.secrets.apiKey ? "api_key" : "oauth");
  if (kind === "api_key" && !value.secrets.apiKey) {
    throw new PoolError("E_INVALID_INPUT", "An api_key credential needs secrets.apiKey.");
  }
  if (kind === "oauth" && !value.secrets.accessToken && !value.secrets.refreshToken) {
    throw new PoolError("E_INVALID_INPUT", "An oauth credential needs an access token or a refresh token.");
  }
  if (value.provider.startsWith("custom:") && !value.baseUrl) {
    throw new PoolError("E_INVALID_INPUT", `Provider ${value.provider} is a custom endpoint: pass its base URL.`);
  }
  return { ...value, kind };
}

/** Adds the credential to `doc` (inside a transaction) with a fresh id, a unique label and the next priority. */
export function insertNewCredential(doc: PoolDocument, value: NewCredentialInput, at: number): Credential {
  const { kind } = value;
  const pool = (doc.providers[value.provider] ??= { credentials: [] });
  const ids = new Set(listCredentials(doc).map((credential) => credential.id));
  let id = randomId(8);
  while (ids.has(id)) id = randomId(8);
  const labels = new Set(pool.credentials.map((credential) => credential.label.toLowerCase()));
  let label = value.label;
  if (label && labels.has(label.toLowerCase())) {
    throw new PoolError(
      "E_CONFLICT",
      `Provider ${value.provider} already has a credential labelled "${label}"; choose another --label.`,
    );
  }
  if (!label) {
    let n = pool.credentials.length + 1;
    while (labels.has(`${value.provider.replace(/^custom:/, "")}-${n}`)) n++;
    label = `${value.provider.replace(/^custom:/, "")}-${n}`;
  }
  const priority =
    value.priority ?? pool.credentials.reduce((max, credential) => Math.max(max, credential.priority + 1), 0);
  const created: Credential = {
    ...(value.extra ?? {}),
    id,
    label,
    provider: value.provider,
    kind,
    priority,
    source: value.source ?? "manual",
    ...(value.baseUrl ? { baseUrl: value.baseUrl } : {}),
    secrets: value.secrets,
    tokenGeneration: 0,
    status: { state: "ok" },
    usage: { requests: 0, failures: 0 },
    ...(value.maxConcurrent ? { maxConcurrent: value.maxConcurrent } : {}),
    createdAt: at,
  };
  pool.credentials.push(created);
  return created;
}

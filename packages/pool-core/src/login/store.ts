// Stores a finished login in one commit: a new credential owned by credpool (source `login`), or, for an account the
// pool already holds (same account id or email), new tokens on that credential with `dead` cleared.
import { PoolError } from "../errors.js";
import { insertNewCredential, parseAddInput } from "../pool/credential-defaults.js";
import { isClearedByNewTokens, rememberUsedToken, updateRefreshState } from "../refresh/token-state.js";
import type { Credential, CredentialSecrets, PoolDocument } from "../store/schema.js";
import type { LoginGrant } from "./oauth.js";

export const LOGIN_SOURCE = "login";

export interface SaveLoginInput {
  readonly provider: string;
  readonly grant: LoginGrant;
  readonly label?: string | undefined;
  readonly baseUrl?: string | undefined;
  readonly now: number;
}

export interface SaveLoginResult {
  readonly action: "added" | "updated";
  readonly credential: Credential;
  /** The credential was dead (or benched by refresh failures) and is usable again. */
  readonly revived: boolean;
}

function secretsOf(grant: LoginGrant): CredentialSecrets {
  return {
    accessToken: grant.accessToken,
    ...(grant.refreshToken ? { refreshToken: grant.refreshToken } : {}),
    ...(grant.expiresAt !== undefined ? { expiresAt: grant.expiresAt } : {}),
    ...(grant.idToken ? { idToken: grant.idToken } : {}),
    ...(grant.accountId ? { accountId: grant.accountId } : {}),
  };
}

/** The pool's credential for the same account: same account id, else same email. */
export function findSameAccount(doc: PoolDocument, provider: string, grant: LoginGrant): Credential | undefined {
  const credentials = (doc.providers[provider]?.credentials ?? []).filter((item) => item.kind === "oauth");
  if (grant.accountId) {
    const byId = credentials.find((item) => item.secrets.accountId === grant.accountId);
    if (byId) return byId;
  }
  if (grant.email) {
    const email = grant.email.toLowerCase();
    return credentials.find((item) => typeof item.email === "string" && item.email.toLowerCase() === email);
  }
  return undefined;
}

/** Applies the login to `doc` (inside a transaction). */
export function applyLogin(doc: PoolDocument, input: SaveLoginInput): SaveLoginResult {
  const existing = findSameAccount(doc, input.provider, input.grant);
  if (!existing) {
    const value = parseAddInput({
      provider: input.provider,
      kind: "oauth",
      source: LOGIN_SOURCE,
      secrets: secretsOf(input.grant),
      ...(input.label ? { label: input.label } : {}),
      ...(input.baseUrl ? { baseUrl: input.baseUrl } : {}),
      extra: input.grant.email ? { email: input.grant.email } : {},
    });
    return { action: "added", credential: insertNewCredential(doc, value, input.now), revived: false };
  }
  if (input.label && input.label.toLowerCase() !== existing.label.toLowerCase()) {
    const taken = (doc.providers[input.provider]?.credentials ?? []).some(
      (item) => item !== existing && item.label.toLowerCase() === input.label?.toLowerCase(),
    );
    if (taken) {
      throw new PoolError(
        "E_CONFLICT",
        `Provider ${input.provider} already has another credential labelled "${input.label}"; choose another --label.`,
      );
    }
    existing.label = input.label;
  }
  const previousRefreshToken = existing.secrets.refreshToken;
  existing.secrets = secretsOf(input.grant);
  existing.tokenGeneration += 1;
  if (input.grant.email) existing.email = input.grant.email;
  // A login made here is credpool's: any link to another tool's file (and its ownership) ends.
  existing.source = LOGIN_SOURCE;
  for (const key of ["sourcePath", "ownership", "sourceMtimeMs", "sourceMeta"]) delete existing[key];
  const revived = isClearedByNewTokens(existing.status);
  if (revived) {
    existing.status = { state: "ok", since: input.now };
    // Requests still running on the old token must not undo this when they fail.
    existing.statusClearedAt = input.now;
  }
  updateRefreshState(existing, (state) => {
    if (previousRefreshToken && previousRefreshToken !== input.grant.refreshToken)
      rememberUsedToken(state, previousRefreshToken);
    for (const key of ["backoffUntil", "strikes", "lastError", "unknownTokenFp", "rejectedTokenFp", "inFlight"])
      delete state[key];
  });
  return { action: "updated", credential: existing, revived };
}

/** Stores the login through `update` (a pool's or a backend's), in one commit. */
export async function saveLogin(
  update: (fn: (doc: PoolDocument) => void) => Promise<PoolDocument>,
  input: SaveLoginInput,
): Promise<SaveLoginResult> {
  let result: SaveLoginResult | undefined;
  await update((doc) => {
    result = applyLogin(doc, input);
  });
  if (!result) throw new PoolError("E_POOL_IO", "The login was not stored.");
  return { ...result, credential: structuredClone(result.credential) };
}

// Reads claims from JWT-shaped tokens without verifying them: we only need `exp` and account ids of our own tokens.

/** The payload of a JWT, or undefined when `token` is not one. Never throws. */
export function decodeJwtPayload(token: string | undefined): Record<string, unknown> | undefined {
  if (typeof token !== "string") return undefined;
  const parts = token.split(".");
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
    return payload !== null && typeof payload === "object" && !Array.isArray(payload)
      ? (payload as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The token's `exp` claim as epoch milliseconds. */
export function jwtExpiresAt(token: string | undefined): number | undefined {
  const exp = decodeJwtPayload(token)?.exp;
  return typeof exp === "number" && Number.isFinite(exp) && exp > 0 ? Math.round(exp * 1000) : undefined;
}

/** The ChatGPT account id OpenAI puts in its id and access tokens. */
export function openaiAccountId(...tokens: Array<string | undefined>): string | undefined {
  for (const token of tokens) {
    const auth = decodeJwtPayload(token)?.["https://api.openai.com/auth"];
    if (auth !== null && typeof auth === "object") {
      const id = (auth as Record<string, unknown>).chatgpt_account_id;
      if (typeof id === "string" && id !== "") return id;
    }
  }
  return undefined;
}

// Errors credpool itself answers on proxy routes, in the provider's own format so the SDKs parse them (and retry
// on their own when told `retry-after`).
import type { ErrorFormat } from "./routes.js";

export interface ProxyErrorReply {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

const ANTHROPIC_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  405: "invalid_request_error",
  413: "request_too_large",
  429: "rate_limit_error",
  529: "overloaded_error",
};

const OPENAI_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "invalid_request_error",
  403: "permission_error",
  404: "invalid_request_error",
  405: "invalid_request_error",
  413: "invalid_request_error",
  429: "rate_limit_exceeded",
};

/**
 * `code` is credpool's own (e.g. `credpool_no_credential`), shown in OpenAI's `code` field and, for every format, in
 * the `x-credpool-code` header: Anthropic's error body has no field for it.
 */
export function proxyError(
  format: ErrorFormat,
  status: number,
  code: string,
  message: string,
  retryAfterMs?: number,
): ProxyErrorReply {
  const headers: Record<string, string> = { "content-type": "application/json", "x-credpool-code": code };
  if (retryAfterMs !== undefined) headers["retry-after"] = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
  const body =
    format === "anthropic"
      ? { type: "error", error: { type: ANTHROPIC_TYPES[status] ?? "api_error", message } }
      : { error: { message, type: OPENAI_TYPES[status] ?? "server_error", param: null, code } };
  return { status, headers, body: JSON.stringify(body) };
}

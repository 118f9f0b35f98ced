// /v1/admin/login/*: the same PKCE logins as `credpool login`, in two calls. `start` returns the authorize URL and a
// flow id; `complete` takes what the provider's page showed (`code#state` or the redirect URL) and stores the login.
// The verifier and state stay in this process; a flow is single-use, owned by the admin token that started it, and
// forgotten after the login timeout.
import { randomBytes } from "node:crypto";
import {
  PoolError,
  checkAnswer,
  exchangeCode,
  parsePastedAnswer,
  saveLogin,
  startAuthorization,
  type LoginProfile,
  type PendingAuthorization,
} from "@credpool/pool-core";
import { z } from "zod";
import type { RequestContext } from "../types.js";

export const loginStartBody = z.strictObject({
  provider: z.string().min(1).max(80),
  label: z.string().min(1).max(64).optional(),
  baseUrl: z.string().max(2000).optional(),
});
export const loginCompleteBody = z.strictObject({
  flowId: z.string().min(1).max(64),
  /** `code#state`, or the whole redirect URL. */
  code: z.string().min(1).max(8192),
});

interface Flow {
  readonly profile: LoginProfile;
  readonly pending: PendingAuthorization;
  readonly label: string | undefined;
  readonly baseUrl: string | undefined;
  readonly tokenId: string;
  readonly expiresAt: number;
}

/** At most this many logins wait at once; the oldest is dropped first. */
const MAX_FLOWS = 32;

export interface LoginFlows {
  start(
    context: RequestContext,
    body: z.infer<typeof loginStartBody>,
  ): { flowId: string; url: string; expiresAt: number };
  complete(
    context: RequestContext,
    body: z.infer<typeof loginCompleteBody>,
    update: Parameters<typeof saveLogin>[0],
  ): Promise<Awaited<ReturnType<typeof saveLogin>>>;
}

export function createLoginFlows(resolveProfile: (provider: string) => LoginProfile, now: () => number): LoginFlows {
  const flows = new Map<string, Flow>();
  const prune = (): void => {
    const at = now();
    for (const [id, flow] of flows) if (flow.expiresAt <= at) flows.delete(id);
    while (flows.size >= MAX_FLOWS) {
      const oldest = flows.keys().next().value;
      if (oldest === undefined) break;
      flows.delete(oldest);
    }
  };
  return {
    start(context, body) {
      const profile = resolveProfile(body.provider);
      if (profile.flow !== "pkce") {
        throw new PoolError(
          "E_INVALID_INPUT",
          `${body.provider} is configured for the device flow; use \`credpool login\`.`,
        );
      }
      // No loopback server here: the redirect goes to the page that shows the code, else to the loopback URI, whose
      // URL (in the browser's address bar after the redirect fails) is what the caller sends to `complete`.
      const loopback = profile.loopback;
      const redirectUri =
        profile.redirectUri ?? (loopback ? `http://${loopback.host}:${loopback.port}${loopback.path}` : undefined);
      if (!redirectUri) throw new PoolError("E_INVALID_OPTIONS", `No redirect is configured for ${body.provider}.`);
      prune();
      const pending = startAuthorization(profile, redirectUri);
      const flowId = randomBytes(16).toString("base64url");
      const expiresAt = now() + profile.timeoutMs;
      flows.set(flowId, {
        profile,
        pending,
        label: body.label,
        baseUrl: body.baseUrl,
        tokenId: context.client?.id ?? "",
        expiresAt,
      });
      return { flowId, url: pending.url, expiresAt };
    },
    async complete(context, body, update) {
      const flow = flows.get(body.flowId);
      if (!flow || flow.expiresAt <= now() || flow.tokenId !== (context.client?.id ?? "")) {
        throw new PoolError("E_NOT_FOUND", "No such login flow (finished, expired, or started with another token).");
      }
      // Single use: a wrong state or a refused code ends the flow too.
      flows.delete(body.flowId);
      const code = checkAnswer(parsePastedAnswer(body.code), flow.pending.state);
      const grant = await exchangeCode(flow.profile, flow.pending, code);
      return saveLogin(update, {
        provider: flow.profile.provider,
        grant,
        label: flow.label,
        baseUrl: flow.baseUrl ?? flow.profile.baseUrl,
        now: now(),
      });
    },
  };
}

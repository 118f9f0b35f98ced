// /v1/admin/*: pool changes and reveal. With TOTP configured, every one needs a session from /v1/admin/session.
import { PoolError, STRATEGIES, credentialSecretsSchema } from "@credpool/pool-core";
import { z } from "zod";
import { jsonResponse } from "../http-errors.js";
import { maskValue } from "../logger.js";
import { header, type RequestContext, type RouteDefinition } from "../types.js";
import { createLoginFlows, loginCompleteBody, loginStartBody } from "./login.js";
import type { GatewayServices } from "./services.js";

const sessionBody = z.strictObject({ code: z.string().max(32) });
const addBody = z.strictObject({
  provider: z.string().min(1).max(80),
  label: z.string().min(1).max(64).optional(),
  kind: z.enum(["api_key", "oauth"]).optional(),
  priority: z.number().int().optional(),
  baseUrl: z.string().max(2000).optional(),
  maxConcurrent: z.number().int().positive().optional(),
  secrets: credentialSecretsSchema,
});
const priorityBody = z.strictObject({ priority: z.number().int() });
const strategyBody = z.strictObject({ strategy: z.enum(STRATEGIES) });
const emptyBody = z.strictObject({});

export function createAdminRoutes(services: GatewayServices): RouteDefinition[] {
  /** Fails closed: a broken TOTP state refuses admin actions instead of skipping the check. */
  async function requireSession(context: RequestContext): Promise<void> {
    if (!services.gate || !(await services.gate.isConfigured())) return;
    const session = header(context.request, "x-credpool-session");
    if (!session || !context.client || !services.gate.checkSession(session, context.client.id)) {
      throw new PoolError(
        "E_TOTP_REQUIRED",
        "TOTP is configured: open a session with POST /v1/admin/session {code} and send it as X-Credpool-Session, with the same token.",
      );
    }
  }

  function audit(context: RequestContext, action: string, fields: Record<string, unknown> = {}): void {
    services.logger.info(
      {
        event: "admin.action",
        action,
        requestId: context.requestId,
        principal: context.client?.name,
        tokenId: context.client?.id,
        ...fields,
      },
      `admin ${action}`,
    );
  }

  const admin = (
    method: string,
    pattern: string,
    name: string,
    body: z.ZodType,
    run: (context: RequestContext) => Promise<unknown>,
  ): RouteDefinition => ({
    method,
    pattern,
    scope: "admin",
    name,
    body,
    async handle(context) {
      await requireSession(context);
      const result = await run(context);
      return jsonResponse(200, result);
    },
  });

  const resolveProfile = services.loginProfile;
  const logins = resolveProfile ? createLoginFlows(resolveProfile, Date.now) : undefined;
  const loginsOrRefuse = (): NonNullable<typeof logins> => {
    if (!logins) throw new PoolError("E_NOT_FOUND", "This gateway was started without login settings.");
    return logins;
  };

  return [
    {
      method: "POST",
      pattern: "/v1/admin/session",
      scope: "admin",
      name: "admin_session",
      body: sessionBody,
      async handle(context) {
        const { code } = context.body as z.infer<typeof sessionBody>;
        if (!services.gate || !(await services.gate.isConfigured())) {
          throw new PoolError("E_TOTP_NOT_CONFIGURED", "TOTP is not configured; admin tokens work without a session.");
        }
        const principal = `gateway:${context.client?.name ?? "unknown"}`;
        try {
          const session = await services.gate.openSession(principal, code, context.client?.id ?? "");
          services.state.adminAuthenticated = true;
          audit(context, "session.open", { principal: maskValue(principal) });
          return jsonResponse(200, session);
        } catch (error) {
          services.metrics.totpFailures.inc();
          services.logger.warn(
            {
              event: "auth.denied",
              requestId: context.requestId,
              principal: maskValue(principal),
              errorCode: (error as PoolError).code,
            },
            "admin session denied",
          );
          throw error;
        }
      },
    },
    admin("POST", "/v1/admin/credentials", "admin_add", addBody, async (context) => {
      const body = context.body as z.infer<typeof addBody>;
      const credential = await services.pool.add(body);
      audit(context, "add", { provider: credential.provider, credentialId: credential.id });
      return { id: credential.id, label: credential.label, provider: credential.provider };
    }),
    admin("DELETE", "/v1/admin/credentials/:target", "admin_remove", emptyBody, async (context) => {
      const credential = await services.pool.remove(context.params.target ?? "");
      audit(context, "remove", { credentialId: credential.id });
      return { removed: credential.id };
    }),
    admin("POST", "/v1/admin/credentials/:target/reset", "admin_reset_one", emptyBody, async (context) => {
      const target = services.pool.resolve(context.params.target ?? "");
      const touched = await services.pool.reset(target.provider, target.id);
      audit(context, "reset", { credentialId: target.id });
      return { reset: touched.map((credential) => credential.id) };
    }),
    admin("POST", "/v1/admin/providers/:provider/reset", "admin_reset_provider", emptyBody, async (context) => {
      const touched = await services.pool.reset(context.params.provider ?? "");
      audit(context, "reset", { provider: context.params.provider });
      return { reset: touched.map((credential) => credential.id) };
    }),
    admin("POST", "/v1/admin/credentials/:target/priority", "admin_priority", priorityBody, async (context) => {
      const { priority } = context.body as z.infer<typeof priorityBody>;
      const credential = await services.pool.setPriority(context.params.target ?? "", priority);
      audit(context, "priority", { credentialId: credential.id, priority });
      return { id: credential.id, priority };
    }),
    admin("POST", "/v1/admin/credentials/:target/disable", "admin_disable", emptyBody, async (context) => {
      const credential = await services.pool.setDisabled(context.params.target ?? "", true);
      audit(context, "disable", { credentialId: credential.id });
      return { id: credential.id, disabled: true };
    }),
    admin("POST", "/v1/admin/credentials/:target/enable", "admin_enable", emptyBody, async (context) => {
      const credential = await services.pool.setDisabled(context.params.target ?? "", false);
      audit(context, "enable", { credentialId: credential.id });
      return { id: credential.id, disabled: false };
    }),
    admin("POST", "/v1/admin/providers/:provider/strategy", "admin_strategy", strategyBody, async (context) => {
      const { strategy } = context.body as z.infer<typeof strategyBody>;
      await services.pool.setStrategy(context.params.provider ?? "", strategy);
      audit(context, "strategy", { provider: context.params.provider, strategy });
      return { provider: context.params.provider, strategy };
    }),
    admin("POST", "/v1/admin/login/start", "admin_login_start", loginStartBody, (context) => {
      const body = context.body as z.infer<typeof loginStartBody>;
      const started = loginsOrRefuse().start(context, body);
      audit(context, "login.start", { provider: body.provider });
      return Promise.resolve(started);
    }),
    admin("POST", "/v1/admin/login/complete", "admin_login_complete", loginCompleteBody, async (context) => {
      const body = context.body as z.infer<typeof loginCompleteBody>;
      const saved = await loginsOrRefuse().complete(context, body, (fn) => services.pool.update(fn));
      const { credential } = saved;
      audit(context, "login.complete", {
        provider: credential.provider,
        credentialId: credential.id,
        result: saved.action,
      });
      return {
        action: saved.action,
        revived: saved.revived,
        id: credential.id,
        label: credential.label,
        provider: credential.provider,
        email: typeof credential.email === "string" ? credential.email : null,
        accountId: credential.secrets.accountId ?? null,
        tokenGeneration: credential.tokenGeneration,
      };
    }),
    admin("POST", "/v1/admin/credentials/:target/reveal", "admin_reveal", emptyBody, (context) => {
      const credential = services.pool.resolve(context.params.target ?? "");
      audit(context, "reveal", { credentialId: credential.id });
      const { apiKey, accessToken } = credential.secrets;
      // Reveal shows what a worker would send; refresh tokens stay inside the pool.
      return Promise.resolve({ id: credential.id, label: credential.label, apiKey, accessToken });
    }),
  ];
}

// `credpool gateway token create|list|revoke`: the bearer tokens gateway clients present. Shown once, stored hashed.
// A token may carry limits for the proxy routes, an expiry (--ttl) and a parent (--parent) that bounds both.
import { dirname } from "node:path";
import { PoolError, isPoolError } from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, defineCommandGroup, integerArgument, jsonOption, type CommandContext } from "../command.js";
import { parseSecondsOrDuration } from "../durations.js";
import { requireTotp, totpCodeOption } from "../gate.js";
import { createOutput } from "../output.js";
import { documentStoreFor, resolveCliPoolPath } from "../pool-access.js";

async function openTokens(context: CommandContext) {
  const { createTokenStore } = await import("@credpool/pool-gateway/tokens");
  const documents = await documentStoreFor(context);
  return createTokenStore({ dir: dirname(await resolveCliPoolPath(context)), documents });
}

/** A comma-separated list flag: `--providers anthropic,openai`. */
function listArgument(flag: string, item: RegExp, itemHint: string) {
  return z
    .string()
    .transform((text) =>
      text
        .split(",")
        .map((part) => part.trim())
        .filter((part) => part !== ""),
    )
    .pipe(
      z
        .array(z.string().max(200).regex(item, `${flag} takes ${itemHint}`))
        .min(1, `${flag} takes a comma-separated list, e.g. ${flag} a,b`)
        .max(64, `${flag} takes at most 64 entries`),
    )
    .optional();
}

/** The store names the limit a child asked too much of; the CLI names the flag. */
const FLAG_OF: Record<string, string> = {
  providers: "--providers",
  models: "--models",
  maxConcurrent: "--max-concurrent",
  rpm: "--rpm",
  maxWaitMs: "--max-wait",
  ttl: "--ttl",
  scope: "--scope",
  parent: "--parent",
};

const MAX_TTL_MS = 30 * 24 * 3_600_000;

const createCommand = defineCommand({
  name: "gateway token create",
  usage:
    "credpool gateway token create --name NAME [--scope lease|proxy|delegate|admin|read] [--parent NAME] [--ttl 30m]\n" +
    "  [--providers a,b] [--models 'claude-*,gpt-4o'] [--max-concurrent N] [--rpm N] [--max-wait 30s] [--json]",
  description:
    "Create a gateway client token and print it once. Workers need scope lease; agents using the\n" +
    "proxy routes (/anthropic, /openai, ...) need scope proxy; delegate is proxy plus minting child tokens\n" +
    "(POST /v1/tokens); the admin API needs scope admin (which includes delegate); the status page (GET /)\n" +
    "needs scope read (lease and admin tokens work there too).\n" +
    "Limits apply on the proxy routes; --parent makes a child token (default scope proxy, TTL 1 h) whose\n" +
    "limits and lifetime are no wider than its parent's, and which ends when the parent is revoked or expires.\n" +
    "Only a SHA-256 hash is stored (gateway-tokens.json, mode 0600). Needs TOTP when it is configured.",
  options: {
    name: { type: "string", value: "NAME", description: "a unique name for the client (shown in logs)" },
    scope: {
      type: "string",
      value: "SCOPE",
      description: "lease (default; proxy with --parent), proxy, delegate or admin",
    },
    parent: { type: "string", value: "NAME", description: "the parent token's name or id: bounds limits and lifetime" },
    ttl: { type: "string", value: "DURATION", description: "expire after this long (90s, 30m, 2h); children: 1 h" },
    providers: { type: "string", value: "LIST", description: "allowed providers, e.g. anthropic,openai" },
    models: { type: "string", value: "LIST", description: "allowed models: names or globs, e.g. 'claude-*,gpt-4o'" },
    "max-concurrent": { type: "string", value: "N", description: "proxied requests in flight at most" },
    rpm: { type: "string", value: "N", description: "proxied requests per minute at most" },
    "max-wait": { type: "string", value: "DURATION", description: "wait for a credential at most (proxy.maxWaitMs)" },
    "totp-code": totpCodeOption,
    json: jsonOption,
  },
  examples: [
    "credpool gateway token create --name worker",
    "export CREDPOOL_GATEWAY_TOKEN=$(credpool gateway token create --name agent --json | jq -r .token)",
    "credpool gateway token create --name planner --scope delegate --providers anthropic,openai --rpm 120",
    "credpool gateway token create --name helper --parent planner --ttl 30m --providers anthropic --models 'claude-*' --max-concurrent 2 --rpm 60",
  ],
  schema: z.object({
    name: z
      .string({ error: "--name is required" })
      .regex(/^[\w.@-]{1,64}$/, "--name takes 1-64 letters, digits, . @ _ -"),
    scope: z
      .enum(["lease", "proxy", "delegate", "admin", "read"], {
        error: "--scope must be lease, proxy, delegate, admin or read",
      })
      .optional(),
    parent: z.string().min(1, "--parent takes a token name or id").optional(),
    ttl: z.string().optional(),
    providers: listArgument("--providers", /^[a-z0-9][\w:.-]*$/, "provider names like anthropic,openai,custom:NAME"),
    models: listArgument("--models", /^[\w.:@/*-]+$/, "model names or globs like claude-sonnet-*,gpt-4o"),
    maxConcurrent: integerArgument("--max-concurrent", 1, 100_000).optional(),
    rpm: integerArgument("--rpm", 1, 1_000_000).optional(),
    maxWait: z.string().optional(),
    totpCode: z.string().optional(),
    json: z.boolean().default(false),
  }),
  async run(input, context) {
    const ttlMs =
      input.ttl === undefined
        ? undefined
        : parseSecondsOrDuration("--ttl", input.ttl, { minMs: 1000, maxMs: MAX_TTL_MS });
    const maxWaitMs =
      input.maxWait === undefined
        ? undefined
        : parseSecondsOrDuration("--max-wait", input.maxWait, { minMs: 0, maxMs: 3_600_000 });
    const limits = {
      ...(input.providers ? { providers: input.providers } : {}),
      ...(input.models ? { models: input.models } : {}),
      ...(input.maxConcurrent !== undefined ? { maxConcurrent: input.maxConcurrent } : {}),
      ...(input.rpm !== undefined ? { rpm: input.rpm } : {}),
      ...(maxWaitMs !== undefined ? { maxWaitMs } : {}),
    };
    if (input.scope === "lease" && Object.keys(limits).length > 0) {
      throw new PoolError(
        "E_USAGE",
        "--scope lease: limits apply on the proxy routes only; use --scope proxy or delegate with them.",
      );
    }
    const scope = input.scope ?? (input.parent === undefined ? "lease" : "proxy");
    await requireTotp(context, { action: "gateway token create", code: input.totpCode });
    const store = await openTokens(context);
    try {
      let created;
      try {
        created = await store.create(input.name, scope, {
          ...(input.parent !== undefined ? { parent: input.parent } : {}),
          limits,
          ...(ttlMs !== undefined ? { ttlMs } : {}),
        });
      } catch (error) {
        const field = isPoolError(error, "E_FORBIDDEN") ? error.details?.field : undefined;
        if (typeof field !== "string" || !FLAG_OF[field]) throw error;
        throw new PoolError("E_USAGE", `${FLAG_OF[field]}${(error as PoolError).message.slice(field.length)}`);
      }
      const { token, client } = created;
      const output = createOutput(context);
      if (input.json) {
        output.printJson({
          id: client.id,
          name: client.name,
          scope: client.scope,
          token,
          ...(client.parentId !== undefined ? { parentId: client.parentId } : {}),
          ...(client.expiresAt !== undefined ? { expiresAt: client.expiresAt } : {}),
          limits: client.limits ?? {},
        });
      } else {
        output.print(token);
        context.stderr.write(
          `Created ${client.scope} token "${client.name}" (id ${client.id}). It is shown only now; give it to the client as CREDPOOL_GATEWAY_TOKEN.\n`,
        );
      }
      return 0;
    } finally {
      await store.close();
    }
  },
});

const listCommand = defineCommand({
  name: "gateway token list",
  usage: "credpool gateway token list [--json]",
  description:
    "List gateway client tokens: id, scope, name, then parent, expiry, state and limits where they apply\n" +
    "(the tokens themselves are not stored).",
  options: { json: jsonOption },
  examples: ["credpool gateway token list", "credpool gateway token list --json"],
  schema: z.object({ json: z.boolean().default(false) }),
  async run(input, context) {
    const store = await openTokens(context);
    try {
      const tokens = await store.list();
      const output = createOutput(context);
      if (input.json) output.printJson({ tokens });
      else if (tokens.length === 0)
        output.print("No gateway tokens. Create one with `credpool gateway token create --name NAME`.");
      else {
        const { describeLimits } = await import("@credpool/pool-gateway/tokens");
        const now = Date.now();
        for (const token of tokens) {
          const extra = [
            token.parentId !== undefined ? `parent=${token.parentName ?? token.parentId}` : "",
            token.expiresAt !== undefined
              ? `expires=${new Date(token.expiresAt).toISOString()}${token.expiresAt > now ? ` (in ${Math.ceil((token.expiresAt - now) / 1000)} s)` : ""}`
              : "",
            token.state !== "active" ? token.state : "",
            describeLimits(token.limits),
          ].filter((part) => part !== "");
          output.print(
            `${token.id}  ${token.scope.padEnd(8)}  ${token.name}${extra.length > 0 ? `  ${extra.join("  ")}` : ""}`,
          );
        }
      }
      return 0;
    } finally {
      await store.close();
    }
  },
});

const revokeCommand = defineCommand({
  name: "gateway token revoke",
  usage: "credpool gateway token revoke <id|name> [--json]",
  description:
    "Revoke a gateway client token and every token minted under it. Running gateways stop accepting them\n" +
    "within a moment.",
  args: [{ name: "target", required: true }],
  options: { "totp-code": totpCodeOption, json: jsonOption },
  examples: ["credpool gateway token revoke worker"],
  schema: z.object({ target: z.string().min(1), totpCode: z.string().optional(), json: z.boolean().default(false) }),
  async run(input, context) {
    await requireTotp(context, { action: "gateway token revoke", code: input.totpCode });
    const store = await openTokens(context);
    try {
      const revoked = await store.revoke(input.target);
      const output = createOutput(context);
      if (input.json)
        output.printJson({
          revoked: { id: revoked.id, name: revoked.name, scope: revoked.scope, descendants: revoked.descendants },
        });
      else {
        const children = revoked.descendants.length;
        output.print(
          `Revoked ${revoked.scope} token "${revoked.name}" (id ${revoked.id})${children > 0 ? `, and ${children} token${children === 1 ? "" : "s"} minted under it (${revoked.descendants.join(", ")})` : ""}.`,
        );
      }
      return 0;
    } finally {
      await store.close();
    }
  },
});

export const { help, run } = defineCommandGroup({
  name: "gateway",
  usage: "credpool gateway token <create|list|revoke> [options]",
  description:
    "Manage the bearer tokens gateway clients present (Authorization: Bearer cpg_...).\n\n" +
    "Subcommands:\n" +
    "  token create  create a token and print it once\n" +
    "  token list    list tokens: name, id, scope, parent, expiry and limits\n" +
    "  token revoke  revoke a token by id or name\n\n" +
    "Start the gateway itself with `pnpm start` (or `credpool-gateway`).",
  examples: [
    "credpool gateway token create --name worker",
    "credpool gateway token list",
    "credpool gateway token revoke worker",
  ],
  subcommands: { "token create": createCommand, "token list": listCommand, "token revoke": revokeCommand },
});

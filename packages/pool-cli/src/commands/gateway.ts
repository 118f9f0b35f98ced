// `credpool gateway token create|list|revoke`: the bearer tokens gateway clients present. Shown once, stored hashed.
import { dirname } from "node:path";
import { z } from "zod";
import { defineCommand, defineCommandGroup, jsonOption, type CommandContext } from "../command.js";
import { requireTotp, totpCodeOption } from "../gate.js";
import { createOutput } from "../output.js";
import { resolveCliPoolPath } from "../pool-access.js";

async function openTokens(context: CommandContext) {
  const { createTokenStore } = await import("@credpool/pool-gateway/tokens");
  return createTokenStore({ dir: dirname(await resolveCliPoolPath(context)) });
}

const createCommand = defineCommand({
  name: "gateway token create",
  usage: "credpool gateway token create --name NAME [--scope lease|proxy|admin] [--json]",
  description:
    "Create a gateway client token and print it once. Workers need scope lease; agents using the\n" +
    "proxy routes (/anthropic, /openai, ...) need scope proxy; the admin API needs scope admin.\n" +
    "Only a SHA-256 hash is stored (gateway-tokens.json, mode 0600). Needs TOTP when it is configured.",
  options: {
    name: { type: "string", value: "NAME", description: "a unique name for the client (shown in logs)" },
    scope: { type: "string", value: "SCOPE", description: "lease (default), proxy or admin" },
    "totp-code": totpCodeOption,
    json: jsonOption,
  },
  examples: [
    "credpool gateway token create --name worker",
    "export CREDPOOL_GATEWAY_TOKEN=$(credpool gateway token create --name agent --json | jq -r .token)",
  ],
  schema: z.object({
    name: z
      .string({ error: "--name is required" })
      .regex(/^[\w.@-]{1,64}$/, "--name takes 1-64 letters, digits, . @ _ -"),
    scope: z.enum(["lease", "proxy", "admin"], { error: "--scope must be lease, proxy or admin" }).default("lease"),
    totpCode: z.string().optional(),
    json: z.boolean().default(false),
  }),
  async run(input, context) {
    await requireTotp(context, { action: "gateway token create", code: input.totpCode });
    const store = await openTokens(context);
    try {
      const { token, client } = await store.create(input.name, input.scope);
      const output = createOutput(context);
      if (input.json) {
        output.printJson({ id: client.id, name: client.name, scope: client.scope, token });
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
  description: "List gateway client tokens (names, ids and scopes; the tokens themselves are not stored).",
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
      else for (const token of tokens) output.print(`${token.id}  ${token.scope.padEnd(5)}  ${token.name}`);
      return 0;
    } finally {
      await store.close();
    }
  },
});

const revokeCommand = defineCommand({
  name: "gateway token revoke",
  usage: "credpool gateway token revoke <id|name> [--json]",
  description: "Revoke a gateway client token. Running gateways stop accepting it within a moment.",
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
      if (input.json) output.printJson({ revoked });
      else output.print(`Revoked ${revoked.scope} token "${revoked.name}" (id ${revoked.id}).`);
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
    "  token list    list tokens by name, id and scope\n" +
    "  token revoke  revoke a token by id or name\n\n" +
    "Start the gateway itself with `pnpm start` (or `credpool-gateway`).",
  examples: [
    "credpool gateway token create --name worker",
    "credpool gateway token list",
    "credpool gateway token revoke worker",
  ],
  subcommands: { "token create": createCommand, "token list": listCommand, "token revoke": revokeCommand },
});

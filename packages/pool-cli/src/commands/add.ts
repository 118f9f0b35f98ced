// `credpool add <provider>`: adds an API key taken from stdin, a named env var or a hidden prompt, never argv.
import { KNOWN_PROVIDERS, assertProviderName, listCredentialViews } from "@credpool/pool-core";
import { z } from "zod";
import { defineCommand, integerArgument, jsonOption } from "../command.js";
import { summarizeCredential } from "../credential-view.js";
import { requireTotp, totpCodeOption } from "../gate.js";
import { createOutput } from "../output.js";
import { withPool } from "../pool-access.js";
import { readSecret } from "../secret-input.js";

export const { help, run } = defineCommand({
  name: "add",
  usage: "credpool add <provider> (--api-key-stdin | --api-key-env VAR) [options]",
  description:
    "Add an API key for <provider> (anthropic, openai, openrouter, custom:<name>, ...).\n" +
    "The key comes from stdin (--api-key-stdin), from an environment variable you name (--api-key-env),\n" +
    "or from a hidden prompt when stdin is a terminal. Keys given as arguments are refused: `ps` and shell\n" +
    "history would see them. OAuth accounts come in through `credpool import`.",
  args: [{ name: "provider", required: true }],
  options: {
    "api-key-stdin": { type: "boolean", description: "read the key from stdin (one line)" },
    "api-key-env": { type: "string", value: "VAR", description: "read the key from environment variable VAR" },
    label: { type: "string", value: "NAME", description: "a unique name within the provider (default <provider>-N)" },
    priority: { type: "string", value: "N", description: "lower is tried first (default: after the others)" },
    "base-url": { type: "string", value: "URL", description: "endpoint for this key (required for custom:<name>)" },
    "max-concurrent": { type: "string", value: "N", description: "at most N leases at once" },
    "totp-code": totpCodeOption,
    json: jsonOption,
  },
  examples: [
    'printf %s "$ANTHROPIC_API_KEY" | credpool add anthropic --api-key-stdin --label work',
    "credpool add openrouter --api-key-env OPENROUTER_API_KEY --priority 5",
    "credpool add custom:local --base-url http://127.0.0.1:8080/v1 --api-key-env LOCAL_KEY",
    "credpool add anthropic            # prompts for the key on a terminal",
  ],
  schema: z.object({
    provider: z.string(),
    apiKeyStdin: z.boolean().default(false),
    apiKeyEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "--api-key-env takes a variable name, e.g. ANTHROPIC_API_KEY")
      .optional(),
    label: z.string().optional(),
    priority: integerArgument("--priority", -1_000_000, 1_000_000).optional(),
    baseUrl: z.string().optional(),
    maxConcurrent: integerArgument("--max-concurrent", 1, 10_000).optional(),
    totpCode: z.string().optional(),
    json: z.boolean().default(false),
  }),
  async run(input, context) {
    const output = createOutput(context);
    assertProviderName(input.provider);
    return withPool(context, async (pool) => {
      await requireTotp(context, { action: `add ${input.provider}`, code: input.totpCode });
      const apiKey = await readSecret(context, {
        fromStdin: input.apiKeyStdin,
        fromEnv: input.apiKeyEnv,
        promptLabel: `API key for ${input.provider}`,
      });
      const credential = await pool.add({
        provider: input.provider,
        kind: "api_key",
        secrets: { apiKey },
        ...(input.label === undefined ? {} : { label: input.label }),
        ...(input.priority === undefined ? {} : { priority: input.priority }),
        ...(input.baseUrl === undefined ? {} : { baseUrl: input.baseUrl }),
        ...(input.maxConcurrent === undefined ? {} : { maxConcurrent: input.maxConcurrent }),
      });
      if (!(credential.provider in KNOWN_PROVIDERS) && !credential.provider.startsWith("custom:")) {
        output.note(
          `note: "${credential.provider}" is not a provider credpool knows (${Object.keys(KNOWN_PROVIDERS).join(", ")}); ` +
            "it has no default endpoint. For an OpenAI-compatible endpoint use custom:<name> with --base-url.",
        );
      }
      const now = Date.now();
      const view = listCredentialViews(pool.doc, now, credential.provider).find(
        (item) => item.credential.id === credential.id,
      );
      if (input.json) {
        output.printJson({
          credential: view ? summarizeCredential(view, now) : { id: credential.id, label: credential.label },
        });
      } else {
        const ref = view ? `${credential.provider}#${view.index}` : credential.provider;
        output.print(`Added ${ref} "${credential.label}" (id ${credential.id}, priority ${credential.priority}).`);
      }
      return 0;
    });
  },
});

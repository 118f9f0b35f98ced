// `credpool login <anthropic|openai-codex|custom:NAME>`: an OAuth login made by credpool itself (PKCE with a pasted
// code or a loopback redirect, or the device flow). The credential's source is `login` and credpool owns it.
import { dirname } from "node:path";
import { createInterface } from "node:readline";
import {
  PoolError,
  checkAnswer,
  exchangeCode,
  listCredentialViews,
  parsePastedAnswer,
  resolveLoginProfile,
  runDeviceFlow,
  saveLogin,
  startAuthorization,
  startLoopback,
  type LoginGrant,
  type LoginProfile,
  type LoopbackServer,
} from "@credpool/pool-core";
import { z } from "zod";
import { openBrowser } from "../browser.js";
import { defineCommand, jsonOption, type CommandContext } from "../command.js";
import { loadCliConfig } from "../config.js";
import { requireTotp, totpCodeOption } from "../gate.js";
import { createOutput, escapeControls, isTerminal, type Output } from "../output.js";
import { readCliPool, resolveCliPoolPath, withPool } from "../pool-access.js";
import { promptHidden } from "../secret-input.js";

/** One line from stdin: hidden on a terminal, else the first line piped in. Never echoed or logged. */
async function readPasted(
  context: CommandContext,
  label: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<string> {
  const timeout = new PoolError(
    "E_LOGIN_FAILED",
    `Nothing was pasted within ${Math.round(timeoutMs / 1000)} s; the login timed out and nothing was stored.`,
  );
  const cancelled = new PoolError("E_LOGIN_FAILED", "Login cancelled; nothing was stored.");
  if (isTerminal(context.stdin)) {
    return withDeadline(
      promptHidden(context.stdin as NodeJS.ReadStream, context.stderr, label),
      timeoutMs,
      timeout,
      signal,
      cancelled,
    );
  }
  context.stderr.write(`${label}: `);
  const reader = createInterface({ input: context.stdin, terminal: false });
  const line = new Promise<string>((resolve, reject) => {
    reader.once("line", resolve);
    reader.once("close", () =>
      reject(new PoolError("E_LOGIN_FAILED", "stdin closed before a code was pasted; nothing was stored.")),
    );
  });
  try {
    return await withDeadline(line, timeoutMs, timeout, signal, cancelled);
  } finally {
    reader.removeAllListeners("close");
    reader.close();
    context.stderr.write("\n");
  }
}

function withDeadline<T>(
  work: Promise<T>,
  ms: number,
  timeout: Error,
  signal: AbortSignal,
  cancelled: Error,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(timeout), ms);
    const onAbort = (): void => reject(cancelled);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    });
  });
}

async function pkceLogin(
  context: CommandContext,
  output: Output,
  profile: LoginProfile,
  noBrowser: boolean,
  signal: AbortSignal,
): Promise<LoginGrant> {
  let server: LoopbackServer | undefined;
  const loopback = profile.loopback;
  if (loopback && !noBrowser) {
    server = await startLoopback({ port: loopback.port, path: loopback.path, timeoutMs: profile.timeoutMs, signal });
    if (!server) {
      output.note(
        `Port ${loopback.port} on 127.0.0.1 is in use (another login?), so the redirect cannot come back here: ` +
          "log in, then paste the whole URL your browser shows after the login.",
      );
    }
  }
  try {
    const loopbackUri = loopback ? `http://${loopback.host}:${loopback.port}${loopback.path}` : undefined;
    // With a live loopback server the redirect comes here; otherwise to the page that shows the code, if any.
    const redirectUri = server ? loopbackUri : (profile.redirectUri ?? loopbackUri);
    if (!redirectUri) throw new PoolError("E_INVALID_OPTIONS", `No redirect is configured for ${profile.provider}.`);
    const pending = startAuthorization(profile, redirectUri);
    output.note(`Open this URL in a browser to log in to ${profile.provider}:\n\n  ${pending.url}\n`);
    if (!noBrowser && (await openBrowser(pending.url, context.env))) output.note("(A browser was opened.)");
    let answer;
    if (server) {
      output.note(`Waiting for the redirect on 127.0.0.1:${server.port} (Ctrl-C to cancel)...`);
      answer = await server.answer;
    } else {
      const what =
        profile.redirectUri && redirectUri === profile.redirectUri
          ? "the code shown after login (code#state)"
          : "the whole URL shown after login";
      answer = parsePastedAnswer(await readPasted(context, `Paste ${what}`, profile.timeoutMs, signal));
    }
    const code = checkAnswer(answer, pending.state);
    return await exchangeCode(profile, pending, code);
  } finally {
    await server?.close();
  }
}

export const { help, run } = defineCommand({
  name: "login",
  usage: "credpool login <anthropic|openai-codex|custom:NAME> [--label L] [--no-browser] [--device] [options]",
  description:
    "Log in to an OAuth account from credpool itself; the credential is credpool's own (source `login`).\n" +
    "  anthropic     PKCE: open the URL, log in, paste the `code#state` the page shows\n" +
    "  openai-codex  PKCE with a redirect to 127.0.0.1:1455; pastes the redirect URL when that port is taken or\n" +
    "                with --no-browser; --device uses the device-code flow instead\n" +
    "  custom:NAME   a generic OAuth2 provider configured under login.providers in config.json\n" +
    "Logging in to an account the pool already holds (same account id or email) updates that credential in place\n" +
    'and brings a dead one back. Endpoints, client ids, scopes and the port are configurable (README "Logging in").',
  args: [{ name: "provider", required: true }],
  options: {
    label: { type: "string", value: "NAME", description: "a unique name within the provider (default <provider>-N)" },
    "no-browser": { type: "boolean", description: "do not open a browser or wait for a redirect; paste instead" },
    device: { type: "boolean", description: "use the device-code flow (enter a code on another device)" },
    "base-url": { type: "string", value: "URL", description: "endpoint for this login (custom:<name> providers)" },
    "totp-code": totpCodeOption,
    json: jsonOption,
  },
  examples: [
    "credpool login anthropic --label work",
    "credpool login openai-codex",
    "credpool login openai-codex --device",
    "credpool login custom:my-idp --no-browser",
  ],
  schema: z.object({
    provider: z.string().min(1),
    label: z.string().optional(),
    noBrowser: z.boolean().default(false),
    device: z.boolean().default(false),
    baseUrl: z.string().optional(),
    totpCode: z.string().optional(),
    json: z.boolean().default(false),
  }),
  async run(input, context) {
    const output = createOutput(context);
    await requireTotp(context, { action: `login ${input.provider}`, code: input.totpCode });
    // A missing pool is reported before anyone logs in.
    await readCliPool(context);
    const home = dirname(await resolveCliPoolPath(context));
    const { config } = await loadCliConfig(context, home);
    const profile = resolveLoginProfile(input.provider, {
      login: config.login,
      refreshProviders: config.refresh?.providers,
      env: context.env,
      ...(input.device ? { flow: "device" as const } : {}),
    });
    const controller = new AbortController();
    const onSignal = (): void => controller.abort();
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, onSignal);
    let grant: LoginGrant;
    try {
      grant =
        profile.flow === "device"
          ? await runDeviceFlow(profile, {
              signal: controller.signal,
              onPrompt(device) {
                output.note(
                  `To log in to ${profile.provider}, open ${device.verificationUri} and enter the code ${device.userCode}` +
                    `${device.verificationUriComplete ? `\n(or open ${device.verificationUriComplete})` : ""}\n` +
                    `Waiting for approval (Ctrl-C to cancel)...`,
                );
              },
              onSlowDown(intervalMs) {
                output.note(`The server asked to poll more slowly; now every ${Math.round(intervalMs / 1000)} s.`);
              },
            })
          : await pkceLogin(context, output, profile, input.noBrowser, controller.signal);
    } finally {
      for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(signal, onSignal);
    }
    return withPool(context, async (pool) => {
      const now = Date.now();
      const saved = await saveLogin((fn) => pool.update(fn), {
        provider: profile.provider,
        grant,
        label: input.label,
        baseUrl: input.baseUrl ?? profile.baseUrl,
        now,
      });
      const credential = saved.credential;
      const view = listCredentialViews(pool.doc, now, credential.provider).find(
        (item) => item.credential.id === credential.id,
      );
      const ref = view ? `${credential.provider}#${view.index}` : credential.provider;
      const who = grant.email ?? grant.accountId;
      if (input.json) {
        output.printJson({
          action: saved.action,
          revived: saved.revived,
          credential: {
            id: credential.id,
            provider: credential.provider,
            label: credential.label,
            source: credential.source,
            email: grant.email ?? null,
            accountId: grant.accountId ?? null,
            expiresAt: grant.expiresAt === undefined ? null : new Date(grant.expiresAt).toISOString(),
            tokenGeneration: credential.tokenGeneration,
          },
        });
        return 0;
      }
      const as = who ? ` as ${escapeControls(who)}` : "";
      output.print(
        saved.action === "added"
          ? `Logged in${as}: added ${ref} "${credential.label}" (id ${credential.id}), owned by credpool.`
          : `Logged in${as}: updated ${ref} "${credential.label}" (id ${credential.id}) in place${saved.revived ? "; it was dead and is usable again" : ""}.`,
      );
      return 0;
    });
  },
});

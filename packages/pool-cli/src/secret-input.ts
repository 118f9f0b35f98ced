// Where secrets come from: stdin, a named environment variable, or a hidden prompt on a terminal. Never argv,
// where `ps` and shell history see them.
import { PoolError } from "@credpool/pool-core";

const SECRET_FLAGS = /^--?(api-?key|apikey|key|secret|token|access-token|refresh-token|password)(=.*)?$/i;
/** Prefixes of real provider keys and JWTs. */
const KEY_PREFIX = /^(sk-|sk_|rk-|pk-|sess-|xai-|gsk_|AIza|ghp_|eyJ)[\w.-]{8,}$/;

/** A long token mixing letters and digits: what a key looks like when it has no known prefix. */
function looksLikeKey(value: string): boolean {
  if (KEY_PREFIX.test(value)) return true;
  return /^[A-Za-z0-9_-]{32,}$/.test(value) && /\d/.test(value) && /[A-Za-z]/.test(value);
}

const SECRET_HINT =
  'Secrets on the command line end up in `ps` output and your shell history. Pipe it instead: `printf %s "$KEY" | credpool add <provider> --api-key-stdin`, ' +
  "or name a variable that holds it: `--api-key-env VAR`. If you typed a real key, consider rotating it.";

/** Refuses `--api-key sk-…` and any argument that looks like a key; the message never repeats the value. */
export function assertNoSecretInArgv(tokens: readonly string[]): void {
  for (const token of tokens) {
    const flag = SECRET_FLAGS.exec(token);
    if (flag) {
      throw new PoolError("E_USAGE", `Refusing ${token.split("=")[0]}: ${SECRET_HINT}`);
    }
    const value = token.startsWith("--") && token.includes("=") ? token.slice(token.indexOf("=") + 1) : token;
    if (looksLikeKey(value)) {
      throw new PoolError(
        "E_USAGE",
        `An argument looks like a secret (${describeShape(value)}); refusing it. ${SECRET_HINT}`,
      );
    }
  }
}

function describeShape(value: string): string {
  const prefix = KEY_PREFIX.exec(value)?.[1];
  return prefix ? `starts with "${prefix}", ${value.length} characters` : `${value.length} random-looking characters`;
}

export interface SecretSources {
  readonly fromStdin: boolean;
  readonly fromEnv: string | undefined;
  /** Shown before a hidden prompt, e.g. "API key for anthropic". */
  readonly promptLabel: string;
}

function isTTY(stream: NodeJS.ReadableStream | NodeJS.WritableStream): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8");
}

/** Reads one line from a terminal without echoing it. Ctrl-C or Ctrl-D cancels. */
export async function promptHidden(
  stdin: NodeJS.ReadStream,
  stderr: NodeJS.WritableStream,
  label: string,
): Promise<string> {
  stderr.write(`${label} (input hidden): `);
  return new Promise<string>((resolve, reject) => {
    let value = "";
    const wasRaw = stdin.isRaw;
    stdin.setRawMode(true);
    stdin.setEncoding("utf8");
    stdin.resume();
    const finish = (error?: PoolError): void => {
      stdin.off("data", onData);
      stdin.setRawMode(wasRaw);
      stdin.pause();
      stderr.write("\n");
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: string): void => {
      for (const char of chunk) {
        if (char === "\r" || char === "\n") return finish();
        if (char === "\u0003" || char === "\u0004") {
          return finish(new PoolError("E_USAGE", "Cancelled; nothing was changed."));
        }
        if (char === "\u007f" || char === "\b") value = value.slice(0, -1);
        else value += char;
      }
    };
    stdin.on("data", onData);
  });
}

/** The secret, trimmed of surrounding whitespace; a usage error naming the right flag when none can be read. */
export async function readSecret(
  context: { stdin: NodeJS.ReadableStream; stderr: NodeJS.WritableStream; env: NodeJS.ProcessEnv },
  sources: SecretSources,
): Promise<string> {
  let raw: string;
  if (sources.fromStdin && sources.fromEnv !== undefined) {
    throw new PoolError("E_USAGE", "Use either --api-key-stdin or --api-key-env, not both.");
  }
  if (sources.fromEnv !== undefined) {
    raw = context.env[sources.fromEnv] ?? "";
    if (raw.trim() === "") {
      throw new PoolError("E_USAGE", `--api-key-env ${sources.fromEnv}: that variable is not set or is empty.`);
    }
  } else if (isTTY(context.stdin)) {
    raw = await promptHidden(context.stdin as NodeJS.ReadStream, context.stderr, sources.promptLabel);
  } else if (sources.fromStdin) {
    raw = await readAll(context.stdin);
  } else {
    throw new PoolError(
      "E_USAGE",
      "No API key given and stdin is not a terminal, so there is no one to ask. Pass --api-key-stdin (and pipe the key in) or --api-key-env VAR.",
    );
  }
  const secret = raw.trim();
  if (secret === "") throw new PoolError("E_USAGE", "The API key is empty.");
  if (/\s/.test(secret)) {
    throw new PoolError("E_USAGE", "The API key contains whitespace or several lines; give exactly one key.");
  }
  return secret;
}

// Runs the configured secret command (e.g. `sudo -n cat /etc/credpool/totp.secret`) without a shell and without
// blocking the event loop: a hung sudo must stall only the caller that is waiting for it (seed 000).
import { spawn } from "node:child_process";
import { PoolError } from "../errors.js";

/** A TOTP secret is 32 base32 characters; anything near this size is not one. */
const MAX_STDOUT_BYTES = 4096;
const MAX_STDERR_BYTES = 2048;

export function describeCommand(argv: readonly string[]): string {
  return argv.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`)).join(" ");
}

/** The first line of stderr, short, with anything that could be a base32 secret blanked out. */
function summariseStderr(stderr: string): string {
  const line =
    stderr
      .split(/\r?\n/)
      .find((text) => text.trim() !== "")
      ?.trim() ?? "";
  const redacted = line.replace(/[A-Za-z2-7=]{16,}/g, "[redacted]");
  return redacted.length > 160 ? `${redacted.slice(0, 157)}...` : redacted;
}

function commandError(argv: readonly string[], problem: string, repair: string, cause?: unknown): PoolError {
  return new PoolError(
    "E_TOTP_STATE",
    `TOTP is configured but its secret command \`${describeCommand(argv)}\` ${problem}; access is denied until this is fixed. ${repair}`,
    { ...(cause === undefined ? {} : { cause }), details: { reason: "secret-command", command: argv[0] } },
  );
}

/** Runs `argv` and resolves with its stdout, trimmed. Every failure is E_TOTP_STATE: the gate fails closed. */
export function runSecretCommand(argv: readonly string[], timeoutMs: number): Promise<string> {
  const [program, ...args] = argv;
  if (program === undefined)
    return Promise.reject(commandError(argv, "is empty", "Set totp.secretCommand to a program and its arguments."));
  return new Promise<string>((resolve, reject) => {
    let settled = false;
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let stdoutBytes = 0;
    let stderrBytes = 0;
    const child = spawn(program, args, { shell: false, stdio: ["ignore", "pipe", "pipe"], windowsHide: true });

    const finish = (error: PoolError | null, value?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        child.kill("SIGKILL");
        // A grandchild (the `sleep` under `sh -c`) may keep the pipes open after we kill the child; stop reading so
        // nothing waits for it.
        child.stdout.destroy();
        child.stderr.destroy();
        reject(error);
      } else {
        resolve(value ?? "");
      }
    };

    const timer = setTimeout(() => {
      finish(
        commandError(
          argv,
          `did not answer within ${timeoutMs} ms and was stopped`,
          `Check that it runs without a prompt (for sudo: \`sudo -n true\` must succeed), or raise totp.secretCommandTimeoutMs.`,
        ),
      );
    }, timeoutMs);

    child.stdout.on("data", (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > MAX_STDOUT_BYTES) {
        finish(
          commandError(argv, `printed more than ${MAX_STDOUT_BYTES} bytes`, "It must print only the base32 secret."),
        );
        return;
      }
      stdout.push(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      if (stderrBytes < MAX_STDERR_BYTES) stderr.push(chunk);
      stderrBytes += chunk.length;
    });
    child.once("error", (error: NodeJS.ErrnoException) => {
      const missing = error.code === "ENOENT";
      finish(
        commandError(
          argv,
          missing
            ? "could not be started: the program was not found"
            : `could not be started (${error.code ?? error.message})`,
          missing
            ? `Use an absolute path in totp.secretCommand, e.g. /usr/bin/sudo.`
            : "Check that the program exists and is executable.",
          error,
        ),
      );
    });
    child.once("close", (code, signal) => {
      if (code === 0) {
        finish(null, Buffer.concat(stdout).toString("utf8").trim());
        return;
      }
      const said = summariseStderr(Buffer.concat(stderr).toString("utf8"));
      const how = signal ? `was killed by ${signal}` : `exited with status ${code}`;
      finish(
        commandError(
          argv,
          `${how}${said ? ` (it said: ${said})` : ""}`,
          "Run it by hand as this user to see why; for sudo, the sudoers line printed by `credpool totp setup` must be installed.",
        ),
      );
    });
  });
}

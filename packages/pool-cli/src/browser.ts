// Opens a URL in the user's browser when there is one: $BROWSER, `open` on macOS, `xdg-open` under a desktop session.
// Never fails the command: a missing or broken opener only means the user opens the printed URL by hand.
import { spawn } from "node:child_process";

export function browserCommand(env: NodeJS.ProcessEnv, platform = process.platform): string | undefined {
  const fromEnv = env.BROWSER?.trim();
  if (fromEnv) return fromEnv;
  if (platform === "darwin") return "open";
  if (platform === "win32") return undefined;
  return env.DISPLAY || env.WAYLAND_DISPLAY ? "xdg-open" : undefined;
}

/** Starts the opener detached with no shell; resolves whether it could be started at all. */
export function openBrowser(url: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  const command = browserCommand(env);
  if (!command) return Promise.resolve(false);
  return new Promise((resolve) => {
    try {
      const child = spawn(command, [url], { detached: true, stdio: "ignore", env });
      child.once("error", () => resolve(false));
      child.once("spawn", () => {
        child.unref();
        resolve(true);
      });
    } catch {
      resolve(false);
    }
  });
}

// Declares the commands; each one lives in its own module under commands/ and is loaded only when run.
// To add a command: write commands/<name>.ts with `export const { help, run } = defineCommand({...})`
// (or `defineCommandGroup` for `credpool <group> <subcommand>`; see command.ts), then add one line here.
import type { CommandEntry } from "./command.js";

export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  init: {
    summary: "create the pool file (mode 0600) and its directory (0700)",
    load: () => import("./commands/init.js"),
  },
  add: {
    summary: "add an API key (from stdin, an env var or a hidden prompt)",
    load: () => import("./commands/add.js"),
  },
  remove: { summary: "remove a credential", load: () => import("./commands/remove.js") },
  priority: {
    summary: "set a credential's priority (lower is tried first)",
    load: () => import("./commands/priority.js"),
  },
  strategy: { summary: "show or set a provider's selection strategy", load: () => import("./commands/strategy.js") },
  list: { summary: "list credentials with their status", load: () => import("./commands/list.js") },
  show: { summary: "everything about one credential, secrets masked", load: () => import("./commands/show.js") },
  reset: { summary: "clear cooldowns and dead states", load: () => import("./commands/reset.js") },
  report: { summary: "record the outcome of a request you made yourself", load: () => import("./commands/report.js") },
  lease: {
    summary: "lease a credential for a script (eval-able or --json)",
    load: () => import("./commands/lease.js"),
  },
  release: { summary: "release a lease taken with `credpool lease`", load: () => import("./commands/release.js") },
  refresh: {
    summary: "refresh an OAuth credential now (single-flight across processes)",
    load: () => import("./commands/refresh.js"),
  },
  login: {
    summary: "log in to an OAuth account (anthropic, openai-codex, custom:<name>)",
    load: () => import("./commands/login.js"),
  },
  import: {
    summary: "import from Claude Code, Codex, hermes or the environment",
    load: () => import("./commands/import.js"),
  },
  sync: {
    summary: "sync the pool with Claude Code, Codex, linked files and env, in one commit",
    load: () => import("./commands/sync.js"),
  },
  usage: {
    summary: "tokens and requests through the gateway's proxy, per credential, model or client",
    load: () => import("./commands/usage.js"),
  },
  exec: { summary: "run a command with a leased credential in its env", load: () => import("./commands/exec.js") },
  watch: { summary: "live view of the pool, redrawn on every change", load: () => import("./commands/watch.js") },
  doctor: { summary: "check modes, locks, schema, backup and temp files", load: () => import("./commands/doctor.js") },
  reveal: { summary: "print a credential's secret (TOTP-gated)", load: () => import("./commands/reveal.js") },
  export: {
    summary: "write the whole pool, secrets included (TOTP-gated)",
    load: () => import("./commands/export.js"),
  },
  secrets: {
    summary: "show or set whether leases hand out keys (secrets release lease|never)",
    load: () => import("./commands/secrets.js"),
  },
  totp: {
    summary: "set up, check or reset the TOTP gate (setup, status, reset)",
    load: () => import("./commands/totp.js"),
  },
  store: {
    summary: "copy the pool directory's documents into PostgreSQL or back (store copy --to/--from URL)",
    load: () => import("./commands/store.js"),
  },
  gateway: {
    summary: "manage gateway client tokens (token create, list, revoke)",
    load: () => import("./commands/gateway.js"),
  },
  completion: {
    summary: "print a shell completion script (bash, zsh, fish)",
    load: () => import("./commands/completion.js"),
  },
};

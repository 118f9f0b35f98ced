// The status page: plain DOM, no framework. State arrives on /v1/events, read with fetch() so the token travels in
// the Authorization header (EventSource cannot send one); the token lives only in sessionStorage.
// see packages/pool-gateway/src/status/page-routes.ts

interface Hello {
  token: string;
  scope: string;
  totpConfigured: boolean | "broken";
}
interface QuotaWindow {
  name: string;
  /** Share used, 0..1; null when unknown or stale. */
  utilisation: number | null;
  resetAt: number | null;
  stale: boolean;
}
interface CredentialShown {
  id: string;
  index: number;
  provider: string;
  label?: string;
  kind: string;
  priority: number;
  disabled: boolean;
  status: { state: string; reason?: string; httpStatus?: number; until?: number; message?: string };
  available: boolean;
  activeLeases: number;
  leases: Array<{ holder: string | null; expiresAt: number; model?: string }>;
  quota: { windows?: QuotaWindow[] };
  hourly: Array<{ hour: number; requests: number; tokens: number }>;
}
interface Snapshot {
  at: number;
  gateway: { startedAt: number; uptimeMs: number; rev: number; backend: string; lagMs?: number };
  providers: Record<string, { strategy: string; credentials: CredentialShown[] }>;
  events: Array<{ at: number; kind: string; provider?: string; credential?: string; detail?: string }>;
}

const TOKEN_KEY = "credpool.statusToken";
const STRATEGIES = ["fill_first", "round_robin", "least_used", "random", "headroom"];
const STALE_MS = 45_000;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const linkEl = $("link");
const signin = $<HTMLFormElement>("signin");
const tokenInput = $<HTMLInputElement>("token");
const signinError = $("signin-error");
const signoutButton = $<HTMLButtonElement>("signout");

let hello: Hello | undefined;
let snapshot: Snapshot | undefined;
let clockOffset = 0;
let session: string | undefined;
let controller: AbortController | undefined;
let retryMs = 500;
let retryTimer: number | undefined;

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<Record<string, string>> = {},
  ...children: Array<Node | string | undefined>
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== undefined) node.append(child);
  return node;
}

function duration(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h}h ${String(m % 60).padStart(2, "0")}m` : `${Math.floor(h / 24)}d ${h % 24}h`;
}

function clock(at: number): string {
  return new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** A reset time: the time of day when it is within a day, else the date too (a 7-day window). */
function when(at: number): string {
  if (Math.abs(at - Date.now()) < 20 * 3_600_000) return clock(at);
  return new Date(at).toLocaleString([], {
    weekday: "short",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
}

const serverNow = (): number => Date.now() + clockOffset;

function setLink(text: string, kind: "ok" | "warn" | "bad"): void {
  linkEl.textContent = text;
  linkEl.className = `link ${kind}`;
}

function showSignin(message = ""): void {
  controller?.abort();
  hello = undefined;
  snapshot = undefined;
  session = undefined;
  signin.hidden = false;
  signoutButton.hidden = true;
  signinError.textContent = message;
  for (const id of ["admin", "health", "events"]) $(id).hidden = true;
  $("providers").replaceChildren();
  setLink(message ? "Not connected" : "Sign in to see the pool", message ? "bad" : "warn");
  tokenInput.focus();
}

function adminBlock(): string | undefined {
  if (!hello) return "Not connected.";
  if (hello.scope !== "admin") return `Admin actions need an admin token; this one has scope ${hello.scope}.`;
  if (hello.totpConfigured === "broken") return "The gateway's TOTP state is broken; admin actions are refused.";
  if (hello.totpConfigured && !session) return "Open an admin session with a TOTP code to use these controls.";
  return undefined;
}

async function adminCall(path: string, body: unknown): Promise<void> {
  const token = sessionStorage.getItem(TOKEN_KEY) ?? "";
  const response = await fetch(path, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      ...(session ? { "x-credpool-session": session } : {}),
    },
    body: JSON.stringify(body),
  });
  if (response.ok) {
    $("admin-error").textContent = "";
    return;
  }
  const problem = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
  if (problem.error?.code === "E_TOTP_REQUIRED") session = undefined;
  $("admin-error").textContent = `Refused: ${problem.error?.message ?? `HTTP ${response.status}`}`;
  $("admin").hidden = false;
  render();
}

function disabledControl<T extends HTMLButtonElement | HTMLInputElement | HTMLSelectElement>(node: T): T {
  const reason = adminBlock();
  if (reason) {
    node.disabled = true;
    node.title = reason;
  }
  return node;
}

function quotaBars(windows: QuotaWindow[] | undefined): HTMLElement | undefined {
  if (!windows || windows.length === 0) return undefined;
  const list = el("ul", { class: "quota" });
  for (const window of windows) {
    const percent = window.utilisation === null ? undefined : window.utilisation * 100;
    const name = window.name;
    const bar = el("span", { class: "bar" }, el("span", { class: "fill" }));
    const fill = bar.firstChild as HTMLElement;
    fill.style.width = `${Math.min(100, percent ?? 0)}%`;
    if ((percent ?? 0) >= 90) fill.classList.add("high");
    const reset = window.resetAt === null ? "" : ` · resets ${when(window.resetAt)}`;
    list.append(
      el(
        "li",
        {},
        el("span", {
          text: `${name}: ${percent === undefined ? "?" : `${Math.round(percent)}%`}${reset}${window.stale ? " (stale)" : ""}`,
        }),
        bar,
      ),
    );
  }
  return list;
}

function usageChart(hourly: CredentialShown["hourly"]): HTMLElement {
  const total = hourly.reduce((sum, hour) => sum + hour.requests, 0);
  const tokens = hourly.reduce((sum, hour) => sum + hour.tokens, 0);
  const last = hourly.at(-1);
  const label = last
    ? `This hour: ${last.requests} requests, ${last.tokens} tokens; last 6 h: ${total} requests, ${tokens} tokens`
    : "No proxied requests in the last 6 hours";
  const max = Math.max(1, ...hourly.map((hour) => hour.requests));
  const chart = el("div", { class: "chart", role: "img", "aria-label": label });
  for (const hour of hourly) {
    const bar = el("span", { class: "col", title: `${clock(hour.hour)}: ${hour.requests} req, ${hour.tokens} tok` });
    bar.style.height = `${Math.round((hour.requests / max) * 100)}%`;
    chart.append(bar);
  }
  return el("div", { class: "usage" }, chart, el("span", { class: "muted", text: label }));
}

function credentialCard(c: CredentialShown, provider: string): HTMLElement {
  const name = c.label ?? c.id;
  const state = c.status.state;
  const stateText =
    state === "ok" ? (c.available ? "serving" : "busy") : state === "exhausted" ? "cooling down" : state;
  const status = el("p", { class: "status" }, el("span", { class: `badge ${state}`, text: stateText }));
  if (c.disabled) status.prepend(el("span", { class: "badge disabled", text: "disabled" }), " ");
  if (c.status.until !== undefined && c.status.until > serverNow()) {
    status.append(
      " ",
      el("span", {
        class: "countdown",
        "data-until": String(c.status.until),
        text: `${duration(c.status.until - serverNow())} left`,
      }),
      el("span", { class: "muted", text: ` until ${when(c.status.until)}` }),
    );
  }
  const why = [c.status.httpStatus === undefined ? undefined : `HTTP ${c.status.httpStatus}`, c.status.reason]
    .filter(Boolean)
    .join(" · ");
  const reasonLine = state !== "ok" && why ? el("p", { class: "reason", text: why }) : undefined;

  const leases = el("p", { class: "muted" });
  const holders = c.leases.map((lease) => lease.holder ?? "anonymous");
  leases.textContent =
    c.activeLeases === 0
      ? "No active leases"
      : `${c.activeLeases} lease(s)${holders.length ? `: ${holders.join(", ")}` : ""}`;

  const reset = disabledControl(el("button", { type: "button", "data-key": `reset:${c.id}`, text: "Reset cooldown" }));
  reset.addEventListener("click", () => void adminCall(`/v1/admin/credentials/${encodeURIComponent(c.id)}/reset`, {}));
  const priority = disabledControl(
    el("input", {
      type: "number",
      value: String(c.priority),
      "aria-label": `Priority of ${name}`,
      "data-key": `prio:${c.id}`,
    }),
  );
  const setPriority = disabledControl(
    el("button", { type: "button", "data-key": `prioset:${c.id}`, text: "Set priority" }),
  );
  setPriority.addEventListener(
    "click",
    () =>
      void adminCall(`/v1/admin/credentials/${encodeURIComponent(c.id)}/priority`, {
        priority: Number(priority.value),
      }),
  );
  const toggle = disabledControl(
    el("button", { type: "button", "data-key": `toggle:${c.id}`, text: c.disabled ? "Enable" : "Disable" }),
  );
  toggle.addEventListener(
    "click",
    () => void adminCall(`/v1/admin/credentials/${encodeURIComponent(c.id)}/${c.disabled ? "enable" : "disable"}`, {}),
  );
  const reason = adminBlock();
  return el(
    "li",
    {
      class: "card",
      "data-credential": c.id,
      "data-state": state,
      "data-disabled": String(c.disabled),
      "aria-label": `${provider} ${name}`,
    },
    el("h3", {}, name, el("span", { class: "muted", text: ` ${c.kind} · priority ${c.priority}` })),
    status,
    reasonLine,
    quotaBars(c.quota.windows),
    leases,
    usageChart(c.hourly),
    el("div", { class: "controls" }, reset, toggle, el("span", { class: "group" }, priority, setPriority)),
    reason ? el("p", { class: "muted small", text: reason }) : undefined,
  );
}

function render(): void {
  if (!snapshot || !hello) return;
  const focused = (document.activeElement as HTMLElement | null)?.dataset.key;
  const g = snapshot.gateway;
  $("health").hidden = false;
  // Each term and its value in one div, so they wrap together at any width.
  $("health-list").replaceChildren(
    ...[
      ["Uptime", duration(g.uptimeMs), "uptime"],
      ["Pool revision", String(g.rev)],
      ["Store", g.backend],
      ["Store lag", g.lagMs === undefined ? "no change seen yet" : `${g.lagMs} ms (last change)`],
      ["Signed in as", `${hello.token} (${hello.scope})`],
    ].map(([term, value, id]) => el("div", {}, el("dt", { text: term }), el("dd", { text: value, id }))),
  );
  const admin = $("admin");
  admin.hidden = !(hello.scope === "admin" && hello.totpConfigured === true);
  $("admin-state").textContent = session
    ? "Session open: admin controls are enabled."
    : "No session: admin controls are disabled.";
  $("totp").hidden = Boolean(session);

  const sections = Object.entries(snapshot.providers).map(([name, provider]) => {
    const strategy = disabledControl(
      el("select", { "aria-label": `Strategy for ${name}`, "data-key": `strategy:${name}` }),
    );
    for (const option of STRATEGIES) {
      const node = el("option", { value: option, text: option });
      node.selected = option === provider.strategy;
      strategy.append(node);
    }
    strategy.addEventListener(
      "change",
      () => void adminCall(`/v1/admin/providers/${encodeURIComponent(name)}/strategy`, { strategy: strategy.value }),
    );
    return el(
      "section",
      { class: "provider", "aria-label": `Provider ${name}` },
      el("div", { class: "provider-head" }, el("h2", { text: name }), el("label", { text: "Strategy " }, strategy)),
      el("ul", { class: "cards" }, ...provider.credentials.map((c) => credentialCard(c, name))),
    );
  });
  $("providers").replaceChildren(...sections);

  $("events").hidden = false;
  $("event-list").replaceChildren(
    ...(snapshot.events.length === 0
      ? [el("li", { class: "muted", text: "Nothing in the last hour." })]
      : snapshot.events.map((event) =>
          el(
            "li",
            { class: `event ${event.kind}` },
            el("time", { text: clock(event.at) }),
            ` ${event.kind.replace(/_/g, " ")}`,
            event.credential ? ` · ${event.provider ?? ""} ${event.credential}` : "",
            event.detail ? ` · ${event.detail}` : "",
          ),
        )),
  );
  if (focused) document.querySelector<HTMLElement>(`[data-key="${CSS.escape(focused)}"]`)?.focus();
}

function tick(): void {
  const uptime = document.getElementById("uptime");
  if (uptime && snapshot) uptime.textContent = duration(serverNow() - snapshot.gateway.startedAt);
  for (const node of document.querySelectorAll<HTMLElement>(".countdown")) {
    const left = Number(node.dataset.until) - serverNow();
    node.textContent = left > 0 ? `${duration(left)} left` : "ending…";
  }
}

function scheduleReconnect(why: string): void {
  setLink(`${why}; reconnecting in ${duration(retryMs)}`, "warn");
  window.clearTimeout(retryTimer);
  retryTimer = window.setTimeout(() => void connect(), retryMs);
  retryMs = Math.min(5000, retryMs * 2);
}

async function connect(): Promise<void> {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return showSignin();
  controller?.abort();
  const mine = new AbortController();
  controller = mine;
  signin.hidden = true;
  signoutButton.hidden = false;
  setLink(snapshot ? "Reconnecting…" : "Connecting…", "warn");
  let response: Response;
  try {
    response = await fetch("/v1/events", {
      headers: { authorization: `Bearer ${token}` },
      signal: mine.signal,
      cache: "no-store",
    });
  } catch {
    if (!mine.signal.aborted) scheduleReconnect("Gateway unreachable");
    return;
  }
  if (response.status === 401 || response.status === 403) {
    const problem = (await response.json().catch(() => ({}))) as { error?: { message?: string } };
    sessionStorage.removeItem(TOKEN_KEY);
    return showSignin(
      response.status === 401
        ? "The gateway refused this token: it is wrong, expired or revoked. Paste a valid token."
        : (problem.error?.message ?? "This token may not see the pool."),
    );
  }
  if (!response.ok || !response.body) {
    scheduleReconnect(`Gateway answered HTTP ${response.status}`);
    return;
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let lastData = Date.now();
  const watchdog = window.setInterval(() => {
    if (Date.now() - lastData > STALE_MS) mine.abort();
  }, 5000);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      lastData = Date.now();
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = "message";
        let data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (event === "hello") {
          hello = JSON.parse(data) as Hello;
          retryMs = 500;
          setLink("Live", "ok");
        } else if (event === "snapshot") {
          snapshot = JSON.parse(data) as Snapshot;
          clockOffset = snapshot.at - Date.now();
          render();
        }
      }
    }
  } catch {
    // Aborted or cut: reconnect below.
  } finally {
    window.clearInterval(watchdog);
  }
  if (controller === mine && sessionStorage.getItem(TOKEN_KEY)) scheduleReconnect("Connection lost");
}

signin.addEventListener("submit", (event) => {
  event.preventDefault();
  const token = tokenInput.value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  tokenInput.value = "";
  signinError.textContent = "";
  retryMs = 500;
  void connect();
});

signoutButton.addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showSignin();
});

$<HTMLFormElement>("totp").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $<HTMLInputElement>("code");
  const token = sessionStorage.getItem(TOKEN_KEY) ?? "";
  void (async () => {
    const response = await fetch("/v1/admin/session", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ code: input.value.trim() }),
    });
    input.value = "";
    const answer = (await response.json().catch(() => ({}))) as {
      sessionToken?: string;
      error?: { message?: string };
    };
    if (response.ok && answer.sessionToken) {
      session = answer.sessionToken;
      $("admin-error").textContent = "";
    } else {
      $("admin-error").textContent = `Refused: ${answer.error?.message ?? `HTTP ${response.status}`}`;
    }
    render();
  })();
});

window.setInterval(tick, 1000);
void connect();

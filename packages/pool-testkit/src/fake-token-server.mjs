// A fake OAuth token endpoint on loopback that behaves like Anthropic's and OpenAI's: refresh tokens are single-use
// and rotate on every call, and a reused one gets invalid_grant and revokes its whole family. It records every call
// so tests can assert that no refresh token was ever sent twice. Plain JavaScript so benches can import it too.
import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { URLSearchParams } from "node:url";

const TOKEN_PATH = "/oauth/token";
const AUTHORIZE_PATH = "/oauth/authorize";
const DEVICE_PATH = "/oauth/device/code";
/** Where a "manual" redirect lands: a page that shows `code#state` for the user to paste, like Anthropic's. */
const CODE_PAGE_PATH = "/oauth/code/callback";
const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

function s256(verifier) {
  return createHash("sha256").update(String(verifier)).digest("base64url");
}

function fingerprint(token) {
  return `sha256:${createHash("sha256").update(String(token)).digest("hex").slice(0, 16)}`;
}

function base64url(value) {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

/** An unsigned JWT-shaped token: enough for clients that read `exp` and account claims. */
function fakeJwt(claims) {
  return `${base64url({ alg: "none", typ: "JWT" })}.${base64url(claims)}.fake-signature`;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function parseBody(contentType, text) {
  if ((contentType ?? "").includes("application/json")) {
    try {
      return { style: "json", fields: JSON.parse(text) };
    } catch {
      return { style: "json", fields: {} };
    }
  }
  return { style: "form", fields: Object.fromEntries(new URLSearchParams(text)) };
}

export async function startFakeTokenServer(options = {}) {
  let latencyMs = options.latencyMs ?? 0;
  const expiresInSec = options.expiresInSec ?? 3600;
  const families = new Map();
  const tokens = new Map();
  const calls = [];
  const reuses = [];
  const script = [];
  const callWaiters = new Set();
  const holds = [];
  const sockets = new Set();
  const codeTtlMs = options.codeTtlMs ?? 60_000;
  /** Authorization codes: code -> { challenge, method, clientId, redirectUri, account, used, expiresAt }. */
  const codes = new Map();
  /** Who the next authorize calls log in as, and whether the user denies. */
  const approvals = [];
  const authorizeRequests = [];
  /** Device codes: device_code -> { script, interval, expiresAt, account, done }. */
  const devices = new Map();
  const deviceScripts = [];

  function mint(family) {
    family.generation += 1;
    const now = Date.now();
    const exp = Math.floor(now / 1000) + family.expiresInSec;
    const accessToken = fakeJwt({
      sub: family.id,
      family: family.id,
      gen: family.generation,
      iat: Math.floor(now / 1000),
      exp,
      nonce: randomBytes(6).toString("hex"),
      "https://api.openai.com/auth": { chatgpt_account_id: family.accountId },
    });
    const refreshToken = `rt-${family.id}-${family.generation}-${randomBytes(12).toString("hex")}`;
    const idToken = fakeJwt({
      sub: family.id,
      email: `${family.id}@example.test`,
      exp,
      "https://api.openai.com/auth": { chatgpt_account_id: family.accountId },
    });
    family.current = { accessToken, refreshToken, idToken, expiresAt: exp * 1000 };
    tokens.set(refreshToken, { family: family.id, used: false });
    return family.current;
  }

  function issue(request = {}) {
    const id = request.family ?? `fam${families.size + 1}${randomBytes(3).toString("hex")}`;
    const family = {
      id,
      generation: 0,
      revoked: false,
      accountId: request.accountId ?? `acct-${id}`,
      expiresInSec: request.expiresInSec ?? expiresInSec,
      current: undefined,
    };
    families.set(id, family);
    return { family: id, ...mint(family) };
  }

  function notifyCall() {
    for (const waiter of callWaiters) {
      if (calls.length >= waiter.count) {
        callWaiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  function send(res, status, body, headers = {}) {
    if (res.destroyed) return;
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  }

  async function handleToken(req, res, text) {
    const { style, fields } = parseBody(req.headers["content-type"], text);
    const refreshToken = typeof fields.refresh_token === "string" ? fields.refresh_token : "";
    const entry = tokens.get(refreshToken);
    const call = {
      at: Date.now(),
      bodyStyle: style,
      grantType: fields.grant_type,
      clientId: fields.client_id,
      scope: fields.scope,
      refreshTokenFp: refreshToken ? fingerprint(refreshToken) : undefined,
      family: entry?.family,
      reused: entry?.used === true,
      outcome: "pending",
    };
    calls.push(call);
    notifyCall();
    if (latencyMs > 0) await sleep(latencyMs);
    const behavior = script.shift() ?? { type: "ok" };

    if (behavior.type === "status") {
      call.outcome = `status ${behavior.status}`;
      return send(res, behavior.status, behavior.body ?? { error: "temporarily_unavailable" }, behavior.headers ?? {});
    }
    if (behavior.type === "echo-refresh-token") {
      // Like a careless endpoint: the refresh token it was sent comes back in the error body.
      call.outcome = `echoed the refresh token with status ${behavior.status}`;
      if (behavior.format === "text") {
        if (res.destroyed) return;
        res.writeHead(behavior.status, { "content-type": "text/plain" });
        return res.end(`bad refresh_token=${refreshToken} (sent ${refreshToken})`);
      }
      return send(res, behavior.status, {
        error: behavior.error ?? "invalid_request",
        error_description: `The refresh token ${refreshToken} could not be processed`,
      });
    }
    if (behavior.type === "drop") {
      call.outcome = "dropped before processing";
      return req.socket.destroy();
    }
    if (fields.grant_type === "authorization_code") return handleCodeGrant(res, fields, call);
    if (fields.grant_type === DEVICE_GRANT) return handleDeviceGrant(res, fields, call);
    if (fields.grant_type !== "refresh_token") {
      call.outcome = "unsupported_grant_type";
      return send(res, 400, { error: "unsupported_grant_type" });
    }
    if (options.clientId && fields.client_id !== options.clientId) {
      call.outcome = "invalid_client";
      return send(res, 401, { error: "invalid_client", error_description: "unknown client_id" });
    }
    if (!entry) {
      call.outcome = "invalid_grant (unknown token)";
      return send(res, 400, { error: "invalid_grant", error_description: "Refresh token not found or invalid" });
    }
    const family = families.get(entry.family);
    if (entry.used) {
      // Like real providers: replaying a rotated refresh token revokes the whole login.
      reuses.push(call);
      family.revoked = true;
      call.outcome = "invalid_grant (reused; family revoked)";
      return send(res, 400, {
        error: "invalid_grant",
        error_description: "Refresh token was already used (refresh_token_reused); the token family is revoked",
      });
    }
    if (family.revoked) {
      call.outcome = "invalid_grant (family revoked)";
      return send(res, 400, { error: "invalid_grant", error_description: "Refresh token revoked" });
    }
    entry.used = true;
    const next = mint(family);
    const body = {
      access_token: next.accessToken,
      refresh_token: next.refreshToken,
      id_token: next.idToken,
      expires_in: family.expiresInSec,
      token_type: "Bearer",
      scope: "user:inference",
    };
    call.outcome = "rotated";
    call.issuedAccessTokenFp = fingerprint(next.accessToken);
    if (behavior.type === "rotate-then-delay") {
      await sleep(behavior.delayMs ?? 1000);
    } else if (behavior.type === "rotate-then-hold") {
      await new Promise((resolve) => holds.push({ call, release: resolve }));
    } else if (behavior.type === "rotate-then-drop") {
      call.outcome = "rotated; response dropped";
      return req.socket.destroy();
    }
    return send(res, 200, body);
  }

  /** A token response for a fresh login, with Anthropic's `account` object next to OpenAI's id token. */
  function loginResponse(account) {
    const issued = issue({ accountId: account.accountId, ...(account.family ? { family: account.family } : {}) });
    const family = families.get(issued.family);
    family.email = account.email;
    const idToken = fakeJwt({
      sub: issued.family,
      email: account.email,
      exp: Math.floor(issued.expiresAt / 1000),
      "https://api.openai.com/auth": { chatgpt_account_id: family.accountId },
    });
    family.current.idToken = idToken;
    return {
      body: {
        access_token: issued.accessToken,
        refresh_token: issued.refreshToken,
        id_token: idToken,
        expires_in: family.expiresInSec,
        token_type: "Bearer",
        scope: "user:inference",
        account: { uuid: family.accountId, email_address: account.email },
      },
      family: issued.family,
    };
  }

  function handleCodeGrant(res, fields, call) {
    const code = typeof fields.code === "string" ? fields.code : "";
    const entry = codes.get(code);
    call.codeFp = code ? fingerprint(code) : undefined;
    const refuse = (status, error, description) => {
      call.outcome = `${error} (${description})`;
      return send(res, status, { error, error_description: description });
    };
    if (!entry) return refuse(400, "invalid_grant", "Invalid authorization code");
    if (entry.used) return refuse(400, "invalid_grant", "Authorization code has already been used");
    entry.used = true;
    if (Date.now() > entry.expiresAt) return refuse(400, "invalid_grant", "Authorization code has expired");
    if (fields.client_id !== entry.clientId) return refuse(401, "invalid_client", "client_id does not match");
    if (fields.redirect_uri !== entry.redirectUri) return refuse(400, "invalid_grant", "redirect_uri does not match");
    // RFC 7636 4.6: the verifier must hash to the challenge sent with the authorization request.
    const verifier = typeof fields.code_verifier === "string" ? fields.code_verifier : "";
    call.pkceVerified = verifier !== "" && s256(verifier) === entry.challenge;
    // Kept so a test's leak scan can look for it in the client's output.
    call.codeVerifier = verifier;
    if (!call.pkceVerified) return refuse(400, "invalid_grant", "PKCE verification failed");
    const { body, family } = loginResponse(entry.account);
    call.family = family;
    call.outcome = "login";
    return send(res, 200, body);
  }

  function handleDeviceGrant(res, fields, call) {
    const deviceCode = typeof fields.device_code === "string" ? fields.device_code : "";
    const device = devices.get(deviceCode);
    const refuse = (error, description) => {
      call.outcome = error;
      return send(res, 400, { error, error_description: description });
    };
    if (!device || fields.client_id !== device.clientId) return refuse("invalid_grant", "Unknown device code");
    if (device.done) return refuse("invalid_grant", "Device code already used");
    if (Date.now() > device.expiresAt) return refuse("expired_token", "The device code has expired");
    const step = device.script.shift() ?? "approve";
    switch (step) {
      case "pending":
        return refuse("authorization_pending", "The user has not finished yet");
      case "slow_down":
        device.interval += 5;
        return refuse("slow_down", "Polling too fast");
      case "deny":
        device.done = true;
        return refuse("access_denied", "The user denied the request");
      case "expire":
        device.done = true;
        return refuse("expired_token", "The device code has expired");
      default: {
        device.done = true;
        const { body, family } = loginResponse(device.account);
        call.family = family;
        call.outcome = "login";
        return send(res, 200, body);
      }
    }
  }

  function handleAuthorize(res, url) {
    const q = url.searchParams;
    const request = {
      at: Date.now(),
      clientId: q.get("client_id"),
      redirectUri: q.get("redirect_uri"),
      responseType: q.get("response_type"),
      scope: q.get("scope"),
      state: q.get("state"),
      challenge: q.get("code_challenge"),
      challengeMethod: q.get("code_challenge_method"),
      params: Object.fromEntries(q),
    };
    authorizeRequests.push(request);
    if (!request.redirectUri) return send(res, 400, { error: "invalid_request", error_description: "no redirect_uri" });
    if (options.clientId && request.clientId !== options.clientId) {
      return send(res, 400, { error: "invalid_client", error_description: "unknown client_id" });
    }
    const approval = approvals.shift() ?? {};
    const target = new URL(request.redirectUri);
    if (request.state) target.searchParams.set("state", request.state);
    if (approval.deny) {
      target.searchParams.set("error", "access_denied");
      target.searchParams.set("error_description", "The user denied access");
    } else if (request.responseType !== "code" || request.challengeMethod !== "S256" || !request.challenge) {
      target.searchParams.set("error", "invalid_request");
      target.searchParams.set("error_description", "response_type=code with an S256 code_challenge is required");
    } else {
      const code = `ac-${randomBytes(18).toString("base64url")}`;
      const n = codes.size + 1;
      codes.set(code, {
        challenge: request.challenge,
        clientId: request.clientId,
        redirectUri: request.redirectUri,
        used: false,
        expiresAt: Date.now() + (approval.codeTtlMs ?? codeTtlMs),
        account: {
          accountId: approval.accountId ?? `acct-login-${n}`,
          email: approval.email ?? `user${n}@example.test`,
        },
      });
      target.searchParams.set("code", code);
    }
    res.writeHead(302, { location: target.toString() });
    res.end();
  }

  function handleDeviceStart(res, text, contentType) {
    const { fields } = parseBody(contentType, text);
    if (!fields.client_id || (options.clientId && fields.client_id !== options.clientId)) {
      return send(res, 401, { error: "invalid_client", error_description: "unknown client_id" });
    }
    const setup = deviceScripts.shift() ?? {};
    const deviceCode = `dc-${randomBytes(18).toString("base64url")}`;
    const userCode = `${randomBytes(2).toString("hex")}-${randomBytes(2).toString("hex")}`.toUpperCase();
    const n = devices.size + 1;
    const expiresIn = setup.expiresInSec ?? 600;
    devices.set(deviceCode, {
      clientId: fields.client_id,
      scope: fields.scope,
      script: [...(setup.script ?? [])],
      interval: setup.interval ?? 5,
      expiresAt: Date.now() + expiresIn * 1000,
      done: false,
      account: { accountId: setup.accountId ?? `acct-device-${n}`, email: setup.email ?? `device${n}@example.test` },
    });
    return send(res, 200, {
      device_code: deviceCode,
      user_code: userCode,
      verification_uri: `${url}/device`,
      verification_uri_complete: `${url}/device?user_code=${userCode}`,
      expires_in: expiresIn,
      interval: setup.interval ?? 5,
    });
  }

  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const url = new URL(req.url ?? "/", "http://localhost");
      if (req.method === "GET" && url.pathname === AUTHORIZE_PATH) {
        handleAuthorize(res, url);
      } else if (req.method === "GET" && url.pathname === CODE_PAGE_PATH) {
        // Anthropic's callback page shows `code#state` for the user to copy.
        const code = url.searchParams.get("code");
        const error = url.searchParams.get("error");
        res.writeHead(error ? 400 : 200, { "content-type": "text/plain" });
        res.end(error ? `error: ${error}` : `${code}#${url.searchParams.get("state") ?? ""}`);
      } else if (req.method === "POST" && url.pathname === DEVICE_PATH) {
        handleDeviceStart(res, text, req.headers["content-type"]);
      } else if (req.method === "POST" && url.pathname === TOKEN_PATH) {
        handleToken(req, res, text).catch((error) =>
          send(res, 500, { error: "fake_server_bug", message: String(error) }),
        );
      } else if (req.method === "GET" && url.pathname === "/_stats") {
        send(res, 200, {
          calls: calls.length,
          reuses: reuses.length,
          rotated: calls.filter((c) => c.outcome === "rotated").length,
        });
      } else if (req.method === "POST" && url.pathname === "/_issue") {
        const request = text ? JSON.parse(text) : {};
        send(res, 200, issue(request));
      } else {
        send(res, 404, { error: "not_found" });
      }
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const url = `http://127.0.0.1:${address.port}`;

  return {
    url,
    tokenUrl: `${url}${TOKEN_PATH}`,
    authorizeUrl: `${url}${AUTHORIZE_PATH}`,
    deviceUrl: `${url}${DEVICE_PATH}`,
    codePageUrl: `${url}${CODE_PAGE_PATH}`,
    calls,
    authorizeRequests,
    approveNext(approval = {}) {
      approvals.push(approval);
    },
    scriptDevice(setup = {}) {
      deviceScripts.push(setup);
    },
    async browse(authorizeUrl) {
      const first = await fetch(authorizeUrl, { redirect: "manual" });
      await first.text();
      const location = first.headers.get("location");
      if (!location) throw new Error(`the authorize endpoint answered ${first.status} without a redirect`);
      // A browser reaches localhost on whichever address answers; the loopback server binds 127.0.0.1 only.
      const landed = await fetch(location.replace("://localhost:", "://127.0.0.1:"), { redirect: "manual" });
      return { location, status: landed.status, text: await landed.text() };
    },
    reuses,
    issue,
    current(family) {
      const found = families.get(family);
      if (!found) throw new Error(`no token family ${family}`);
      return { family: found.id, ...found.current, revoked: found.revoked, generation: found.generation };
    },
    revoke(family) {
      const found = families.get(family);
      if (found) found.revoked = true;
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    script(...behaviors) {
      script.push(...behaviors);
    },
    waitForCalls(count, timeoutMs = 30_000) {
      if (calls.length >= count) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const waiter = {
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
        const timer = setTimeout(() => {
          callWaiters.delete(waiter);
          reject(new Error(`the fake token server saw ${calls.length} of ${count} calls within ${timeoutMs} ms`));
        }, timeoutMs);
        callWaiters.add(waiter);
      });
    },
    /** Lets held responses (rotate-then-hold) go out. */
    releaseHeld() {
      for (const hold of holds.splice(0)) hold.release();
    },
    heldCount() {
      return holds.length;
    },
    assertNoReuse() {
      if (reuses.length > 0) {
        throw new Error(
          `a refresh token was sent twice (${reuses.length} time(s)): ${reuses.map((c) => c.refreshTokenFp).join(", ")}`,
        );
      }
    },
    async close() {
      for (const hold of holds.splice(0)) hold.release();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

// TLS to the server: `store.ssl` (or the `ssl` option) and the URL's libpq parameters (sslmode, sslrootcert, sslcert,
// sslkey) become the driver's `ssl` setting. The modes mean what they mean to libpq; see README "More than one host".
import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";
import { PoolError, storeSslSchema, type StoreSslConfig } from "@credpool/pool-core";
import { z } from "zod";

/** Query parameters a store URL may carry; anything else is refused by name rather than silently dropped. */
const URL_PARAMS = ["sslmode", "sslrootcert", "sslcert", "sslkey"] as const;

const urlSslSchema = z.strictObject({
  // libpq's prefer and allow fall back to plain text when TLS fails; the driver cannot, so they are not offered.
  sslmode: z
    .enum(["disable", "require", "verify-ca", "verify-full"], {
      error: "sslmode must be disable, require, verify-ca or verify-full (prefer and allow are not supported)",
    })
    .optional(),
  sslrootcert: z.string().min(1).optional(),
  sslcert: z.string().min(1).optional(),
  sslkey: z.string().min(1).optional(),
});

type SslSettings = Exclude<z.output<typeof storeSslSchema>, boolean | string>;

/** The URL's TLS parameters as a `store.ssl` object; undefined when it has none. Unknown parameters: E_USAGE. */
export function sslFromUrl(url: URL): StoreSslConfig | undefined {
  const params: Record<string, string> = {};
  for (const [key, value] of url.searchParams) {
    if (!(URL_PARAMS as readonly string[]).includes(key)) {
      throw new PoolError(
        "E_USAGE",
        `The store URL has the parameter "${key}", which credpool does not use; it takes ${URL_PARAMS.join(", ")}.`,
      );
    }
    params[key] = value;
  }
  if (Object.keys(params).length === 0) return undefined;
  const parsed = urlSslSchema.safeParse(params);
  if (!parsed.success) {
    throw new PoolError("E_USAGE", `The store URL's TLS parameters: ${z.prettifyError(parsed.error)}`);
  }
  const { sslmode, sslrootcert, sslcert, sslkey } = parsed.data;
  return {
    // As in libpq, a root certificate alone asks for verification.
    mode: sslmode ?? (sslrootcert !== undefined ? "verify-full" : "require"),
    ...(sslrootcert === undefined ? {} : { caFile: sslrootcert }),
    ...(sslcert === undefined ? {} : { certFile: sslcert }),
    ...(sslkey === undefined ? {} : { keyFile: sslkey }),
  };
}

function normalise(ssl: z.output<typeof storeSslSchema>): SslSettings {
  if (ssl === true) return { mode: "verify-full" };
  if (ssl === false) return { mode: "disable" };
  if (typeof ssl === "string") return { mode: ssl };
  // Before `mode` existed, { rejectUnauthorized: false } was how one asked for unverified TLS.
  if (ssl.rejectUnauthorized === false && ssl.mode === "verify-full") return { ...ssl, mode: "require" };
  return ssl;
}

function pem(inline: string | undefined, file: string | undefined, field: string): string | undefined {
  if (inline !== undefined && file !== undefined) {
    throw new PoolError("E_USAGE", `store.ssl: give ${field} or ${field}File, not both.`);
  }
  if (file === undefined) return inline;
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new PoolError("E_USAGE", `store.ssl.${field}File: cannot read ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * The driver's `ssl` value: false for disable; otherwise node:tls options. require encrypts without checking the
 * certificate, verify-ca checks the chain but not the host name, verify-full checks both.
 */
export function resolveDriverSsl(option: StoreSslConfig | undefined, url: URL): false | ConnectionOptions {
  const chosen = option ?? sslFromUrl(url);
  if (chosen === undefined) return false;
  const settings = normalise(storeSslSchema.parse(chosen));
  if (settings.mode === "disable") return false;
  const ca = pem(settings.ca, settings.caFile, "ca");
  const cert = pem(settings.cert, settings.certFile, "cert");
  const key = pem(settings.key, settings.keyFile, "key");
  if ((cert === undefined) !== (key === undefined)) {
    throw new PoolError("E_USAGE", "store.ssl: a client certificate needs its key, and a key its certificate.");
  }
  const tls: ConnectionOptions = {
    rejectUnauthorized: settings.mode !== "require",
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    ...(settings.servername === undefined ? {} : { servername: settings.servername }),
  };
  // The chain is still checked; only the host name is not (libpq's verify-ca).
  if (settings.mode === "verify-ca") tls.checkServerIdentity = () => undefined;
  return tls;
}

// Resolves what a user typed (an id, a label, or provider#N) to exactly one credential.
import { PoolError } from "../errors.js";
import type { Credential, PoolDocument } from "../store/schema.js";
import { orderCredentials } from "./strategy.js";

export function listCredentials(doc: PoolDocument, provider?: string): Credential[] {
  const providers = provider === undefined ? Object.keys(doc.providers).sort() : [provider];
  return providers.flatMap((name) => orderCredentials(doc.providers[name]?.credentials ?? []));
}

export function resolveTarget(doc: PoolDocument, target: string): Credential {
  const all = listCredentials(doc);
  const byId = all.find((credential) => credential.id === target);
  if (byId) return byId;

  const numbered = /^(.+)#(\d+)$/.exec(target);
  if (numbered) {
    const [, provider = "", index = "0"] = numbered;
    const ordered = orderCredentials(doc.providers[provider]?.credentials ?? []);
    const found = ordered[Number(index) - 1];
    if (found) return found;
    throw new PoolError(
      "E_NOT_FOUND",
      `No credential ${target}: provider "${provider}" has ${ordered.length} credential(s). Run \`credpool list ${provider}\`.`,
    );
  }

  const wanted = target.toLowerCase();
  const byLabel = all.filter((credential) => credential.label.toLowerCase() === wanted);
  if (byLabel.length === 1 && byLabel[0]) return byLabel[0];
  if (byLabel.length > 1) {
    const candidates = byLabel.map((credential) => `${credential.provider}/${credential.label} (id ${credential.id})`);
    throw new PoolError(
      "E_AMBIGUOUS",
      `"${target}" matches ${byLabel.length} credentials: ${candidates.join(", ")}. Use an id or provider#N.`,
      { details: { candidates: byLabel.map((credential) => credential.id) } },
    );
  }
  throw new PoolError(
    "E_NOT_FOUND",
    `No credential matches "${target}" (by id, label or provider#N). Run \`credpool list\`.`,
  );
}

/** The same credential inside another (fresher) copy of the document. */
export function findCredential(doc: PoolDocument, id: string): Credential | undefined {
  for (const provider of Object.values(doc.providers)) {
    const found = provider.credentials.find((credential) => credential.id === id);
    if (found) return found;
  }
  return undefined;
}

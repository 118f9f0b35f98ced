// How secrets appear anywhere a person or a log can see them: a recognisable prefix and the last four characters.

const KNOWN_PREFIX = /^(sk-ant-(?:api\d\d-|oat\d\d-)?|sk-or-v\d-|sk-proj-|sk-|cpg_|eyJ)/;

export function maskSecret(value: string | undefined): string {
  if (!value) return "";
  if (value.length < 12) return "****";
  const prefix = KNOWN_PREFIX.exec(value)?.[1] ?? "";
  return `${prefix}…${value.slice(-4)}`;
}

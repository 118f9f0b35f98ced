// Builds the status page into dist/status-page: index.html (served no-cache) and content-hashed assets (immutable).
import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = `${root}dist/status-page/`;
await rm(out, { recursive: true, force: true });
await mkdir(`${out}assets`, { recursive: true });
const result = await build({
  entryPoints: [`${root}web/app.ts`],
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  write: false,
  legalComments: "none",
});
const js = result.outputFiles[0].text;
const css = await readFile(`${root}web/style.css`, "utf8");
const hashed = (text, ext) => `app-${createHash("sha256").update(text).digest("hex").slice(0, 16)}.${ext}`;
const jsName = hashed(js, "js");
const cssName = hashed(css, "css");
await writeFile(`${out}assets/${jsName}`, js);
await writeFile(`${out}assets/${cssName}`, css);
const html = (await readFile(`${root}web/index.html`, "utf8")).replace("__JS__", jsName).replace("__CSS__", cssName);
await writeFile(`${out}index.html`, html);

// Copies the repository's demo avatars and depth maps into public/demo, where the test pages load them from, and
// bundles the StrictMode test page (web/e2e/strict.jsx, React's development build).
import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const demo = join(here, "..", "..", "resources", "demo");
mkdirSync(join(here, "public", "demo"), { recursive: true });
for (const folder of ["avatars", "depth"]) {
  cpSync(join(demo, folder), join(here, "public", "demo", folder), { recursive: true });
}
// The StrictMode page twice: on React 19 (public/strict) and on React 18 (public/strict18, npm aliases), the
// package's two peers.
for (const [folder, alias] of [
  ["strict", {}],
  ["strict18", { react: "react-18", "react-dom": "react-dom-18" }],
]) {
  await build({
    entryPoints: [join(here, "..", "e2e", "strict.jsx")],
    outfile: join(here, "public", folder, "strict.js"),
    bundle: true,
    format: "iife",
    jsx: "automatic",
    alias,
    define: { "process.env.NODE_ENV": '"development"' },
    logLevel: "warning",
  });
  writeFileSync(
    join(here, "public", folder, "index.html"),
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>StrictMode</title><link rel="icon" href="data:,"></head>' +
      '<body style="margin:0"><div id="root"></div><script src="strict.js"></script></body></html>\n',
  );
}

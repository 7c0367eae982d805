// Bundles the two benchmark pages (production React): ours on React 19, react-depth-map on React 16 (its peer).
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const common = {
  bundle: true,
  minify: true,
  format: "iife",
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "warning",
};
await build({ ...common, entryPoints: [join(here, "ours.jsx")], outfile: join(here, "dist", "ours.js") });
await build({
  ...common,
  jsx: "transform",
  jsxFactory: "React.createElement",
  inject: [join(here, "react16-shim.js")],
  entryPoints: [join(here, "rdm.jsx")],
  outfile: join(here, "dist", "rdm.js"),
  alias: { react: "react-16", "react-dom": "react-dom-16" },
});

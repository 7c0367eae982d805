// Builds dist/index.js (one minified ES module: the React wrapper + the repository's web viewer + the shader text)
// and dist/index.d.ts, then prints the size a portal pays: min+gzip without React. Budget: 8 kB.
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const BUDGET = 8 * 1024;

/** The GLSL as shipped: the files in shaders/ with comments and blank lines dropped (the text stays one source). */
export function shaderText(file) {
  return readFileSync(join(repo, "shaders", file), "utf8")
    .split("\n")
    .map((line) => line.replace(/\/\/.*$/, "").trimEnd())
    .filter((line) => line.trim() !== "")
    .join("\n");
}

/** The viewer with its schema's help texts and labels dropped: the studio shows them, a portal never does. */
function viewerSource() {
  const source = readFileSync(join(repo, "resources", "web", "depthstudio-viewer.js"), "utf8");
  return source.replace(/export const SCHEMA = (\{[\s\S]*?\n\});/, (_, json) => {
    const schema = JSON.parse(json);
    for (const p of schema.params) {
      delete p.help;
      delete p.label;
    }
    return `export const SCHEMA = ${JSON.stringify(schema)};`;
  });
}

const repository = {
  name: "depthstudio",
  setup(b) {
    b.onResolve({ filter: /^depthstudio:/ }, (args) => ({ path: args.path, namespace: "depthstudio" }));
    b.onLoad({ filter: /^depthstudio:viewer$/, namespace: "depthstudio" }, () => ({
      contents: viewerSource(),
      loader: "js",
    }));
    b.onLoad({ filter: /^depthstudio:shaders$/, namespace: "depthstudio" }, () => ({
      contents: `export const SHADERS = ${JSON.stringify({
        vertex: shaderText("parallax.vert"),
        fragment: shaderText("parallax.frag"),
      })};`,
      loader: "js",
    }));
  },
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  rmSync(join(here, "dist"), { recursive: true, force: true });
  await build({
    entryPoints: [join(here, "src", "index.ts")],
    outfile: join(here, "dist", "index.js"),
    bundle: true,
    format: "esm",
    target: "es2022",
    jsx: "automatic",
    minify: true,
    external: ["react", "react/jsx-runtime"],
    // Next.js: the module is a client component; bundling drops the source's directives, so it is the banner.
    banner: { js: '"use client";' },
    plugins: [repository],
    logLevel: "warning",
  });
  execFileSync(process.execPath, [join(here, "..", "node_modules", "typescript", "bin", "tsc"), "-p", here], {
    stdio: "inherit",
  });
  rmSync(join(here, "dist", "modules.d.ts"), { force: true });
  const js = readFileSync(join(here, "dist", "index.js"));
  const gz = gzipSync(js, { level: 9 }).length;
  console.log(
    `@depthstudio/react: dist/index.js ${statSync(join(here, "dist", "index.js")).size} B min, ` +
      `${gz} B min+gzip without React (budget ${BUDGET} B)`,
  );
  if (gz > BUDGET) {
    console.error(`over the size budget by ${gz - BUDGET} B`);
    process.exit(1);
  }
}

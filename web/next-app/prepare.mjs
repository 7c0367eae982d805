// Copies the repository's demo avatars and depth maps into public/demo, where the test pages load them from.
import { cpSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const demo = join(here, "..", "..", "resources", "demo");
mkdirSync(join(here, "public", "demo"), { recursive: true });
for (const folder of ["avatars", "depth"]) {
  cpSync(join(demo, folder), join(here, "public", "demo", folder), { recursive: true });
}

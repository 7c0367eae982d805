// Browser checks of the Next.js test app (or any page of avatars), in Debian's Chromium driven by playwright-core.
// Usage: node browser.mjs <scenario> <base URL> ; prints one JSON object (the scenario's findings) on its last line.
// The Python tests (tests/test_react_package.py) start `next start` and assert on these findings.
import { execFileSync } from "node:child_process";
import { chromium } from "playwright-core";

export const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--use-angle=swiftshader",
  "--enable-unsafe-swiftshader",
];

export function chromiumPath() {
  return process.env.CHROMIUM || execFileSync("sh", ["-c", "command -v chromium || command -v chromium-browser"]).toString().trim();
}

/** Counts WebGL contexts the page creates and loses (installed before any page script runs). */
export function countContexts() {
  const stats = { created: 0, lost: 0 };
  window.__webgl = stats;
  const original = HTMLCanvasElement.prototype.getContext;
  const seen = new WeakSet();
  HTMLCanvasElement.prototype.getContext = function (type, ...rest) {
    const ctx = original.call(this, type, ...rest);
    if (ctx && /webgl/.test(type) && !seen.has(this)) {
      seen.add(this);
      stats.created += 1;
      this.addEventListener("webglcontextlost", () => (stats.lost += 1));
    }
    return ctx;
  };
}

export async function launch() {
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: FLAGS });
}

async function openPage(browser, url, options = {}) {
  const context = await browser.newContext({ viewport: { width: 800, height: 600 }, deviceScaleFactor: 1, ...options });
  const page = await context.newPage();
  const errors = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.addInitScript(countContexts);
  return { page, errors, url };
}

const frameOf = (page, index) =>
  page.evaluate((i) => {
    const canvas = document.querySelectorAll(".image-DepthMap canvas")[i];
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    let bin = "";
    for (let k = 0; k < data.length; k += 0x8000) bin += String.fromCharCode(...data.subarray(k, k + 0x8000));
    return { width: canvas.width, height: canvas.height, data: btoa(bin) };
  }, index);

const counts = (page) =>
  page.evaluate(() => ({
    contexts: { ...window.__webgl }, // first: sharedContext() below makes the context if nothing did
    canvases: document.querySelectorAll(".image-DepthMap canvas").length,
    images: document.querySelectorAll(".image-DepthMap img").length,
    viewers: window.depthstudio.sharedContext().viewers.size,
    webgl: [...window.depthstudio.sharedContext().viewers].filter((v) => v.mode === "webgl").length,
  }));

/** Moves the pointer along a path, waiting a frame between steps, like a user. */
async function wiggle(page, steps = 12) {
  for (let i = 0; i < steps; i++) {
    await page.mouse.move(400 + 350 * Math.cos(i / 2), 300 + 250 * Math.sin(i / 2));
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
  }
}

const SCENARIOS = {
  /** 60 speakers: one context, every avatar with a depth map in 3D, frames change under the pointer. */
  async speakers(browser, base) {
    const { page, errors } = await openPage(browser, base);
    await page.goto(`${base}/?n=60`);
    await page.waitForFunction(() => window.depthstudio?.sharedContext().viewers.size === 48);
    const before = await frameOf(page, 0);
    await wiggle(page);
    await page.mouse.move(790, 590);
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const after = await frameOf(page, 0);
    return { ...(await counts(page)), changed: before.data !== after.data, errors };
  },

  /** The pointer held still until the easing settles; the 192 x 192 frame goes back for the numpy comparison. */
  async still(browser, base) {
    const { page, errors } = await openPage(browser, base);
    await page.goto(`${base}/still`);
    await page.waitForFunction(() => window.depthstudio?.sharedContext().viewers.size === 1);
    await page.mouse.move(640, 180);
    await page.waitForFunction(() => {
      const [v] = window.depthstudio.sharedContext().viewers;
      return v.target[0] !== 0 && v.settled(); // |target - mouse| under the settle threshold: the loop stopped
    });
    const viewer = await page.evaluate(() => {
      const [v] = window.depthstudio.sharedContext().viewers;
      return { mouse: v.mouse, target: v.target };
    });
    return { frame: await frameOf(page, 0), ...viewer, errors };
  },

  /** A 3x phone screen: the canvas renders at the capped ratio (2), not at 3. */
  async dpr(browser, base) {
    const { page, errors } = await openPage(browser, base, { deviceScaleFactor: 3 });
    await page.goto(`${base}/still`);
    await page.waitForFunction(() => window.depthstudio?.sharedContext().viewers.size === 1);
    const size = await page.evaluate(() => {
      const c = document.querySelector(".image-DepthMap canvas");
      return { width: c.width, height: c.height, cssWidth: c.getBoundingClientRect().width, ratio: devicePixelRatio };
    });
    return { ...size, errors };
  },

  /** Phone tilt: DeviceOrientation events (as the browser dispatches them) move the avatar on the gyro page. */
  async gyro(browser, base) {
    const { page, errors } = await openPage(browser, base);
    await page.goto(`${base}/still?gyro=1`);
    await page.waitForFunction(() => window.depthstudio?.sharedContext().viewers.size === 1);
    const tilt = (beta, gamma) =>
      page.evaluate(([b, g]) => window.dispatchEvent(new DeviceOrientationEvent("deviceorientation", { beta: b, gamma: g })), [beta, gamma]);
    await tilt(40, 0); // how the phone is held: no motion
    const held = await page.evaluate(() => [...window.depthstudio.sharedContext().viewers][0].target);
    await tilt(40, 10);
    const tilted = await page.evaluate(() => [...window.depthstudio.sharedContext().viewers][0].target);
    return { held, tilted, errors };
  },

  /** prefers-reduced-motion: the plain photos, and no WebGL context at all. */
  async reduced(browser, base) {
    const { page, errors } = await openPage(browser, base, { reducedMotion: "reduce" });
    await page.goto(`${base}/?n=10`);
    await page.waitForFunction(() => window.depthstudio && [...document.querySelectorAll(".image-DepthMap img")].every((i) => i.complete));
    await wiggle(page, 4);
    return { ...(await counts(page)), errors };
  },

  /** WEBGL_lose_context: the photos show while the context is lost, the 3D avatars come back when restored. */
  async lose(browser, base) {
    const { page, errors } = await openPage(browser, base);
    await page.goto(`${base}/?n=10`);
    await page.waitForFunction(() => window.depthstudio?.sharedContext().viewers.size === 8);
    const running = await counts(page);
    await page.evaluate(
      () =>
        new Promise((r) => {
          const gl = window.depthstudio.sharedContext().gl;
          window.__lose = gl.getExtension("WEBGL_lose_context");
          gl.canvas.addEventListener("webglcontextlost", () => setTimeout(r, 0), { once: true });
          window.__lose.loseContext();
        }),
    );
    await wiggle(page, 3);
    const lost = await counts(page);
    await page.evaluate(
      () =>
        new Promise((r) => {
          const gl = window.depthstudio.sharedContext().gl;
          gl.canvas.addEventListener("webglcontextrestored", () => setTimeout(r, 0), { once: true });
          window.__lose.restoreContext();
        }),
    );
    await wiggle(page, 3);
    const restored = await counts(page);
    const frame = await frameOf(page, 0);
    return { running, lost, restored, frame, errors };
  },

  /** StrictMode's double mount and a full unmount leave no viewer, canvas, window listener or loop behind. */
  async strict(browser, base, folder = "strict") {
    const { page, errors } = await openPage(browser, base);
    await page.goto(`${base}/${folder}/index.html`);
    await page.waitForFunction(() => typeof window.mountAvatars === "function");
    const cdp = await page.context().newCDPSession(page);
    const windowListeners = async () => {
      const { result } = await cdp.send("Runtime.evaluate", { expression: "window" });
      const { listeners } = await cdp.send("DOMDebugger.getEventListeners", { objectId: result.objectId });
      return listeners.length;
    };
    const before = await windowListeners();
    await page.evaluate(() => window.mountAvatars(8));
    await page.waitForFunction(() => window.depthstudio.sharedContext().viewers.size === 6);
    await wiggle(page, 4);
    const mounted = { ...(await counts(page)), listeners: (await windowListeners()) - before };
    await page.evaluate(() => window.unmountAvatars());
    await page.waitForFunction(() => document.querySelectorAll(".image-DepthMap").length === 0);
    const shared = await page.evaluate(() => {
      const s = window.depthstudio.sharedContext();
      return { viewers: s.viewers.size, moving: s.moving.size };
    });
    const unmounted = { ...shared, listeners: (await windowListeners()) - before };
    return { react: await page.evaluate(() => window.depthstudio.react), mounted, unmounted, errors };
  },

  /** The same on React 18. */
  async strict18(browser, base) {
    return SCENARIOS.strict(browser, base, "strict18");
  },

  /** Pointer events before the images arrive (react-depth-map's NaN): the avatar still draws and follows. */
  async early(browser, base) {
    const { page, errors } = await openPage(browser, base);
    let release;
    const gate = new Promise((r) => (release = r));
    await page.route("**/demo/depth/**", async (route) => {
      await gate;
      await route.continue();
    });
    await page.goto(`${base}/still`);
    await page.waitForFunction(() => window.depthstudio !== undefined);
    await wiggle(page, 8);
    const beforeLoad = await counts(page);
    release();
    await page.waitForFunction(() => window.depthstudio.sharedContext().viewers.size === 1);
    await page.mouse.move(640, 180);
    await page.waitForFunction(() => {
      const [v] = window.depthstudio.sharedContext().viewers;
      return v.target[0] !== 0 && v.settled();
    });
    const viewer = await page.evaluate(() => {
      const [v] = window.depthstudio.sharedContext().viewers;
      return { mouse: v.mouse, target: v.target };
    });
    return { beforeLoad, frame: await frameOf(page, 0), ...viewer, errors };
  },
};

if (import.meta.url === `file://${process.argv[1]}`) {
  const [scenario, base] = process.argv.slice(2);
  const browser = await launch();
  try {
    const result = await SCENARIOS[scenario](browser, base.replace(/\/$/, ""));
    console.log(JSON.stringify(result));
  } finally {
    await browser.close();
  }
}

// Measures one page of avatars in Debian's Chromium (playwright-core): WebGL contexts created and lost, frames/s
// while the pointer moves, JS heap, time to the first 3D frame. Usage:
//   node measure.mjs <page URL> <seconds of pointer motion>   -> one JSON object on the last line
import { countContexts, launch } from "../e2e/browser.mjs";

/** Installed before the page's scripts: the time of the first WebGL draw call, and a frame counter. */
function instrument() {
  window.__bench = { firstDraw: null, frames: 0 };
  for (const proto of [WebGLRenderingContext.prototype, WebGL2RenderingContext.prototype]) {
    for (const name of ["drawArrays", "drawElements"]) {
      const original = proto[name];
      proto[name] = function (...args) {
        window.__bench.firstDraw ??= performance.now();
        return original.apply(this, args);
      };
    }
  }
  const count = () => {
    window.__bench.frames += 1;
    requestAnimationFrame(count);
  };
  requestAnimationFrame(count);
}

const [url, seconds] = [process.argv[2], Number(process.argv[3] ?? 3)];
const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1000, height: 800 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.addInitScript(countContexts);
  await page.addInitScript(instrument);
  await page.goto(url);
  await page.waitForFunction(() => window.__bench.firstDraw !== null, null, { timeout: 60000 });
  await page.waitForLoadState("load");
  // Frames/s while the pointer circles the page: rAF callbacks the page managed per second of wall time.
  const start = await page.evaluate(() => [window.__bench.frames, performance.now()]);
  const deadline = Date.now() + seconds * 1000;
  for (let i = 0; Date.now() < deadline; i++) {
    await page.mouse.move(500 + 450 * Math.cos(i / 8), 400 + 350 * Math.sin(i / 8));
  }
  const end = await page.evaluate(() => [window.__bench.frames, performance.now()]);
  const cdp = await context.newCDPSession(page);
  await cdp.send("HeapProfiler.collectGarbage");
  const heap = await cdp.send("Runtime.getHeapUsage");
  const found = await page.evaluate(() => ({
    firstDrawMs: window.__bench.firstDraw,
    contexts: { ...window.__webgl },
    canvases: document.querySelectorAll("canvas").length,
  }));
  console.log(
    JSON.stringify({
      ...found,
      fps: ((end[0] - start[0]) * 1000) / (end[1] - start[1]),
      heapMB: heap.usedSize / 2 ** 20,
      errors,
    }),
  );
} finally {
  await browser.close();
}

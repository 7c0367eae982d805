// Draws jobs in Debian's Chromium through playwright-core (never a browser download): the real component and our
// viewer with the same photo, box and devicePixelRatio. Reads a JSON job file (argv[2]), writes results (argv[3]).
//
// Animation frames: an init script queues requestAnimationFrame callbacks and the driver runs them itself, so the
// component's own easing loop advances an exact number of frames and its drawing buffer is read in the same task
// (before the browser composites and clears it). The component's code runs as published.
import { readFileSync, writeFileSync } from "node:fs";
import { chromium } from "playwright-core";

const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));

const RAF_SHIM = `
window.__raf = [];
window.requestAnimationFrame = (cb) => { window.__raf.push(cb); return window.__raf.length; };
window.cancelAnimationFrame = () => {};
window.__step = (n) => {
  for (let i = 0; i < n; i++) {
    const due = window.__raf; window.__raf = [];
    for (const cb of due) cb(performance.now());
  }
};
window.__read = (canvas) => {
  const gl = canvas.getContext("webgl");
  const program = gl.getParameter(gl.CURRENT_PROGRAM);
  const u = (name) => Array.from(gl.getUniform(program, gl.getUniformLocation(program, name)));
  const w = gl.drawingBufferWidth, h = gl.drawingBufferHeight;
  const data = new Uint8Array(w * h * 4);
  gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, data);
  let bin = "";
  for (let i = 0; i < data.length; i += 0x8000) bin += String.fromCharCode(...data.subarray(i, i + 0x8000));
  return { width: canvas.width, height: canvas.height, bufferWidth: w, bufferHeight: h,
           cssWidth: canvas.style.width, cssHeight: canvas.style.height,
           mouse: u("mouse"), resolution: u("resolution"), pixelRatio: gl.getUniform(program,
           gl.getUniformLocation(program, "pixelRatio")), bottomUp: true, data: btoa(bin) };
};
`;

const browser = await chromium.launch({ executablePath: spec.executable, args: spec.args, headless: true });
const contexts = new Map();
async function pageFor(scale) {
  if (!contexts.has(scale)) {
    const context = await browser.newContext({ viewport: spec.viewport, deviceScaleFactor: scale });
    await context.addInitScript(RAF_SHIM);
    const component = await context.newPage();
    await component.goto(`${spec.base}/rdm/page.html`);
    const viewer = await context.newPage();
    await viewer.goto(`${spec.base}/tests/web/harness.html`);
    await viewer.waitForFunction(() => window.harnessReady === true);
    contexts.set(scale, { component, viewer });
  }
  return contexts.get(scale);
}

const results = [];
try {
  for (const job of spec.jobs) {
    const started = Date.now();
    const { component, viewer } = await pageFor(job.scale);
    await component.mouse.move(spec.viewport.width / 2, spec.viewport.height / 2);
    const offsetWidth = await component.evaluate(
      ([name, props, width]) => window.mountComponent(name, props, width),
      [job.component, job.props, job.width],
    );
    if (job.viewerProps) {
      const mode = await viewer.evaluate(
        ([props, width]) => window.mount(props, width, null, { fit: "image" }),
        [job.viewerProps, job.width],
      );
      if (mode !== "webgl") throw new Error(`our viewer fell back: ${await viewer.evaluate(() => current.fallbackReason)}`);
    }
    const frames = [];
    for (const [x, y] of job.pointers) {
      await component.mouse.move(x, y);
      const real = await component.evaluate((steps) => {
        window.__step(steps);
        return window.__read(document.querySelector(".image-DepthMap canvas"));
      }, job.steps);
      const ours = job.viewerProps ? await viewer.evaluate(([mx, my]) => window.frameAt(mx, my), real.mouse) : null;
      frames.push({ real, ours });
    }
    process.stderr.write(`${job.component} ${job.width}@${job.scale}: ${Date.now() - started} ms\n`);
    results.push({ offsetWidth, frames });
  }
} finally {
  await browser.close();
}
writeFileSync(process.argv[3], JSON.stringify(results));

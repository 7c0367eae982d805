// depthstudio's web viewer: react-depth-map's parallax, drawn by the very shader files the studio uses.
//
// Dependency-free ES module. It takes react-depth-map's props (originalImg, depthImg, horizontalThreshold,
// verticalThreshold, multiplier, respondTo, reverseMotion) plus depthstudio's shader parameters, shows the plain
// <img> until (and unless) WebGL 2 can draw the depth effect, and eases the motion exactly like the component:
// m += (target - m) * 0.05 per animation frame.
//
// Usage: new DepthViewer(container, {originalImg, depthImg, ...}, {shaderBase: "/shaders/"}).
// The shader sources come from `shaderBase` (fetched) or `shaders: {vertex, fragment}` (inline, for file://).

// BEGIN GENERATED SCHEMA: scripts/make_web_schema.py writes this block from depthstudio.render (do not edit)
export const SCHEMA = {
  "attribute": "a_position",
  "depthUnit": 1,
  "easing": 0.05,
  "frameUniforms": [
    "u_resolution",
    "u_mouse",
    "u_pixelRatio",
    "u_photo",
    "u_depth",
    "u_plate",
    "u_matte"
  ],
  "glslHeader": "#version 300 es\nprecision highp float;\n",
  "matteUnit": 3,
  "params": [
    {
      "choices": [],
      "default": 35.0,
      "help": "Divides the horizontal pointer offset: larger values mean less horizontal motion.",
      "kind": "float",
      "label": "Horizontal threshold",
      "maximum": 200.0,
      "minimum": 5.0,
      "name": "horizontal_threshold",
      "step": 1.0,
      "uniform": "u_horizontalThreshold",
      "web": "horizontalThreshold"
    },
    {
      "choices": [],
      "default": 35.0,
      "help": "Divides the vertical pointer offset: larger values mean less vertical motion.",
      "kind": "float",
      "label": "Vertical threshold",
      "maximum": 200.0,
      "minimum": 5.0,
      "name": "vertical_threshold",
      "step": 1.0,
      "uniform": "u_verticalThreshold",
      "web": "verticalThreshold"
    },
    {
      "choices": [],
      "default": 1.0,
      "help": "Multiplies both thresholds, so a larger multiplier means LESS motion (as on the web).",
      "kind": "float",
      "label": "Multiplier",
      "maximum": 10.0,
      "minimum": 0.25,
      "name": "multiplier",
      "step": 0.05,
      "uniform": "u_multiplier",
      "web": "multiplier"
    },
    {
      "choices": [],
      "default": 0.05,
      "help": "Depth that stays still. 0.05 (the portal's fix) keeps the background almost still; 0.5 is the original component, where everything farther than mid-depth moves the other way and the avatar splits in two.",
      "kind": "float",
      "label": "Background clipping plane",
      "maximum": 1.0,
      "minimum": 0.0,
      "name": "plane",
      "step": 0.01,
      "uniform": "u_plane",
      "web": "clippingPlane"
    },
    {
      "choices": [],
      "default": 1.0,
      "help": "Scales the motion of whatever lies behind the plane (which moves against the subject). 1 is the web shader; 0 holds the background still, which removes the detached sliver at the silhouette.",
      "kind": "float",
      "label": "Counter-motion behind the plane",
      "maximum": 1.0,
      "minimum": 0.0,
      "name": "counter_motion",
      "step": 0.05,
      "uniform": "u_counterMotion",
      "web": "counterMotion"
    },
    {
      "choices": [],
      "default": 0,
      "help": "0 is the web shader. N > 0 searches N depth layers for the nearest surface, so the subject slides over the background instead of being clipped by its own still silhouette (N extra lookups).",
      "kind": "int",
      "label": "Occlusion steps",
      "maximum": 32,
      "minimum": 0,
      "name": "occlusion_steps",
      "step": 1,
      "uniform": "u_occlusionSteps",
      "web": "occlusionSteps"
    },
    {
      "choices": [],
      "default": false,
      "help": "Draw two layers: the background plate (subject removed, hole filled) with the background's motion, and the subject with its depth displacement and occlusion search, composited by the matte. Needs the result's plate and matte; off is the web shader.",
      "kind": "bool",
      "label": "Layered (plate + matte)",
      "maximum": null,
      "minimum": null,
      "name": "layered",
      "step": null,
      "uniform": "u_layered",
      "web": "layered"
    },
    {
      "choices": [],
      "default": 0.5,
      "help": "Matte value at which the subject is half opaque (layered mode): higher trims the edge inwards.",
      "kind": "float",
      "label": "Matte threshold",
      "maximum": 1.0,
      "minimum": 0.0,
      "name": "matte_threshold",
      "step": 0.01,
      "uniform": "u_matteThreshold",
      "web": "matteThreshold"
    },
    {
      "choices": [],
      "default": 0.25,
      "help": "Half-width of the matte's ramp around the threshold (layered mode): larger is a softer edge.",
      "kind": "float",
      "label": "Matte feather",
      "maximum": 0.5,
      "minimum": 0.0,
      "name": "matte_feather",
      "step": 0.01,
      "uniform": "u_matteFeather",
      "web": "matteFeather"
    },
    {
      "choices": [],
      "default": false,
      "help": "Follow the pointer instead of moving away from it (the web component's reverseMotion).",
      "kind": "bool",
      "label": "Reverse motion",
      "maximum": null,
      "minimum": null,
      "name": "reverse_motion",
      "step": null,
      "uniform": null,
      "web": "reverseMotion"
    },
    {
      "choices": [
        "mouseMove",
        "scrollOnX",
        "scrollOnY",
        "scrollOnBoth"
      ],
      "default": "mouseMove",
      "help": "What drives the motion on the web page: the pointer or the page scroll.",
      "kind": "choice",
      "label": "Respond to",
      "maximum": null,
      "minimum": null,
      "name": "respond_to",
      "step": null,
      "uniform": null,
      "web": "respondTo"
    }
  ],
  "photoUnit": 0,
  "plateUnit": 2,
  "respondTo": [
    "mouseMove",
    "scrollOnX",
    "scrollOnY",
    "scrollOnBoth"
  ],
  "shaderFiles": {
    "fragment": "parallax.frag",
    "vertex": "parallax.vert"
  }
};
// END GENERATED SCHEMA

const SETTLED = 1e-4; // |target - mouse| below this: stop the animation loop until the next input
const PARAM_BY_PROP = new Map(SCHEMA.params.map((p) => [p.web, p]));

/** The parameters for `props`: defaults from the schema, each value coerced and clamped to its range. */
export function resolveParams(props = {}) {
  const out = {};
  for (const p of SCHEMA.params) {
    let value = props[p.web] ?? p.default;
    if (p.kind === "bool") {
      value = value === true || value === "true";
    } else if (p.kind === "choice") {
      if (!p.choices.includes(value)) {
        console.warn(`depthstudio-viewer: ${p.web}=${value} is not one of ${p.choices.join(", ")}`);
        value = p.default;
      }
    } else {
      value = Number(value);
      if (!Number.isFinite(value)) {
        console.warn(`depthstudio-viewer: ${p.web} must be a number`);
        value = p.default;
      }
      value = Math.min(Math.max(value, p.minimum), p.maximum);
      if (p.kind === "int") value = Math.round(value);
    }
    out[p.web] = value;
  }
  return out;
}

/** react-depth-map's pointer mapping: offset from the window centre in [-1, 1], sign flipped unless reversed. */
export function pointerTarget(x, y, width, height, reverseMotion = false) {
  const halfX = width / 2;
  const halfY = height / 2;
  const tx = (halfX - x) / halfX;
  const ty = (halfY - y) / halfY;
  return reverseMotion ? [-tx, -ty] : [tx, ty];
}

/** react-depth-map's scroll mapping; null while the element is not wholly on screen (the target stays). */
export function scrollTarget(top, height, windowHeight, respondTo, reverseMotion = false) {
  if (!(top < windowHeight - height && top > 0)) return null;
  const percent = Number((top / (windowHeight - height)).toFixed(2)); // the component rounds so (half up)
  const t = 2 * percent - 1;
  const x = respondTo === "scrollOnY" ? 0 : t;
  const y = respondTo === "scrollOnX" ? 0 : t;
  return reverseMotion ? [-x, -y] : [x, y];
}

/** `resolution.zw` as the component computes it: cover the canvas, cropping the photo's longer side. */
export function aspectFit(outW, outH, imgW, imgH) {
  const imageAspect = imgH / imgW;
  if (outH / outW < imageAspect) return [1, outH / outW / imageAspect];
  return [(outW / outH) * imageAspect, 1];
}

/**
 * The canvas react-depth-map 1.0.9 makes for a box `cssWidth` CSS pixels wide (its published source, function `M`):
 * `resolution` keeps the unrounded height `cssWidth * h / w`; the canvas is that times devicePixelRatio, truncated
 * as `canvas.width = x` truncates. Same order of double operations, so the uniforms are bit-identical.
 * numpy twin: depthstudio.render.reference.web_canvas.
 */
export function componentCanvas(cssWidth, imgW, imgH, ratio) {
  const n = imgH / imgW;
  const e = cssWidth;
  const r = e * n;
  const t = r / e < n ? 1 : (e / r) * n;
  const o = r / e < n ? r / e / n : 1;
  return { width: Math.trunc(e * ratio), height: Math.trunc(r * ratio), resolution: [e, r, t, o] };
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    // Cross-origin photos (a CDN) must be CORS-enabled to reach WebGL; data:/blob:/file: URLs need no request.
    if (!/^(data|blob|file):/i.test(url)) img.crossOrigin = "anonymous";
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`cannot load the image ${String(url).slice(0, 80)}`));
    img.src = url;
  });
}

/** Where a layer of a published depth map lives: its address with -plate/-matte before .png, any
 * Cloudinary version segment dropped (depthstudio.storage.layers uploads the layers after the map). */
export function layerUrl(depthUrl, layer) {
  const url = String(depthUrl).replace(/\/v\d+\//, "/");
  const dot = url.toLowerCase().lastIndexOf(".png");
  if (dot < 0) throw new Error("the depth map's URL does not end in .png: no layers to find");
  return `${url.slice(0, dot)}-${layer}${url.slice(dot)}`;
}

/** Plate and matte for the layered mode, from explicit props or next to the depth map; null if absent. */
async function loadLayers(props) {
  try {
    return await Promise.all([
      loadImage(props.plateImg ?? layerUrl(props.depthImg, "plate")),
      loadImage(props.matteImg ?? layerUrl(props.depthImg, "matte")),
    ]);
  } catch {
    return null;
  }
}

async function fetchText(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load the shader ${url} (HTTP ${response.status})`);
  return response.text();
}

/** The raw shader files (as stored in shaders/), from inline text or fetched from `shaderBase`. */
async function shaderSources(options) {
  if (options.shaders) return options.shaders;
  const base = new URL(options.shaderBase ?? "shaders/", document.baseURI);
  const [vertex, fragment] = await Promise.all([
    fetchText(new URL(SCHEMA.shaderFiles.vertex, base)),
    fetchText(new URL(SCHEMA.shaderFiles.fragment, base)),
  ]);
  return { vertex, fragment };
}

/** The context says why a call failed when it is lost: then every info log is null, which explains nothing. */
function contextError(gl, what, log) {
  return new Error(gl.isContextLost() ? "the WebGL context was lost" : `the parallax shader does not ${what}: ${log}`);
}

function compile(gl, type, source) {
  const shader = gl.createShader(type);
  gl.shaderSource(shader, SCHEMA.glslHeader + source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) {
    const error = contextError(gl, "compile", gl.getShaderInfoLog(shader));
    gl.deleteShader(shader);
    throw error;
  }
  return shader;
}

function link(gl, sources) {
  const program = gl.createProgram();
  const vs = compile(gl, gl.VERTEX_SHADER, sources.vertex);
  const fs = compile(gl, gl.FRAGMENT_SHADER, sources.fragment);
  gl.attachShader(program, vs);
  gl.attachShader(program, fs);
  gl.bindAttribLocation(program, 0, SCHEMA.attribute);
  gl.linkProgram(program);
  gl.deleteShader(vs);
  gl.deleteShader(fs);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) {
    throw contextError(gl, "link", gl.getProgramInfoLog(program));
  }
  const locations = {};
  const names = [...SCHEMA.frameUniforms, ...SCHEMA.params.filter((p) => p.uniform).map((p) => p.uniform)];
  for (const name of names) {
    const loc = gl.getUniformLocation(program, name);
    if (loc === null) throw contextError(gl, "declare", `the uniform ${name}`);
    locations[name] = loc;
  }
  return { program, locations };
}

/**
 * LINEAR + CLAMP_TO_EDGE like the web component; row 0 of the image at v = 0. A photo (`colour`) keeps the
 * browser's default colour conversion, as react-depth-map uploads it (an ICC-tagged phone photo is shown in sRGB);
 * depth and matte are data, uploaded as stored.
 */
function texture(gl, unit, image, internalFormat, format, colour = false) {
  const tex = gl.createTexture();
  gl.activeTexture(gl.TEXTURE0 + unit);
  gl.bindTexture(gl.TEXTURE_2D, tex);
  gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
  gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
  gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, colour ? gl.BROWSER_DEFAULT_WEBGL : gl.NONE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
  gl.texImage2D(gl.TEXTURE_2D, 0, internalFormat, format, gl.UNSIGNED_BYTE, image);
  return tex;
}

/**
 * The one WebGL 2 context of the page. Chromium keeps only 16 contexts alive per page and silently kills the
 * oldest beyond that, so a page of 24 avatars cannot give each its own: every viewer draws here, into the
 * bottom-left corner of a canvas that is never shown, and copies its frame to its own 2D canvas.
 */
class SharedContext {
  constructor() {
    this.canvas = document.createElement("canvas");
    this.gl = this.canvas.getContext("webgl2", {
      alpha: false,
      antialias: false,
      depth: false,
      premultipliedAlpha: false,
      preserveDrawingBuffer: false,
    });
    this.viewers = new Set();
    this.moving = new Set(); // viewers easing towards their target: drawn together, once per animation frame
    this._raf = 0;
    this.programs = new Map(); // vertex + fragment source -> {program, locations}
    // preventDefault() asks the browser to restore the context; the objects made in it are gone by then.
    this.canvas.addEventListener("webglcontextlost", (e) => {
      e.preventDefault();
      this.programs.clear();
      this.scratch = null;
      this.lost += 1;
      for (const v of this.viewers) v._contextLost();
    });
    this.canvas.addEventListener("webglcontextrestored", () => {
      for (const v of [...this.viewers]) v._contextRestored();
    });
    this.lost = 0; // how many times the browser took the context away (diagnostics, benchmarks)
    // A hidden tab draws nothing: every loop stops, and the ones still moving resume when the tab shows again.
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) for (const v of this.viewers) v.setTarget(...v.target);
    });
  }

  program(sources) {
    const key = `${sources.vertex}\0${sources.fragment}`;
    let entry = this.programs.get(key);
    if (!entry) {
      entry = link(this.gl, sources);
      this.programs.set(key, entry);
    }
    return entry;
  }

  /** Animate `viewer` (eased steps) in the page's one loop until it settles or leaves the view. */
  schedule(viewer) {
    this.moving.add(viewer);
    this._raf ||= requestAnimationFrame(this._frame);
  }

  unschedule(viewer) {
    this.moving.delete(viewer);
  }

  _frame = () => {
    this._raf = 0;
    const batch = [];
    for (const v of this.moving) {
      if (v.visible && v.mode === "webgl" && v.program) {
        v.tick();
        batch.push(v);
      }
      if (!v.visible || v.mode !== "webgl" || v.settled()) this.moving.delete(v);
    }
    this.drawBatch(batch);
    if (this.moving.size) this._raf = requestAnimationFrame(this._frame);
  };

  /**
   * Draw every moving viewer of an animation frame, then copy them out: each renders at the origin of a scratch
   * framebuffer (the shader's geometry is gl_FragCoord-based) and is blitted to its own place in the drawing
   * buffer, so the GL work of the frame is queued before the first copy-out waits for it.
   */
  drawBatch(viewers) {
    const gl = this.gl;
    if (!viewers.length || gl.isContextLost()) return;
    const width = Math.max(ATLAS_WIDTH, ...viewers.map((v) => v.canvas.width));
    // Shelf packing, in groups no taller than ATLAS_HEIGHT (the buffer is sized once per group: growing clears it).
    const groups = [[]];
    let [x, y, shelf] = [0, 0, 0];
    for (const v of viewers) {
      const { width: w, height: h } = v.canvas;
      if (x + w > width) [x, y, shelf] = [0, y + shelf, 0];
      if (y + h > ATLAS_HEIGHT && groups.at(-1).length) {
        groups.push([]);
        [x, y, shelf] = [0, 0, 0];
      }
      groups.at(-1).push([v, x, y]);
      x += w;
      shelf = Math.max(shelf, h);
    }
    for (const group of groups) {
      this.fit(width, Math.max(...group.map(([v, , py]) => py + v.canvas.height)));
      for (const [v, px, py] of group) {
        const { width: w, height: h } = v.canvas;
        this._scratch(w, h);
        v.draw(true);
        gl.bindFramebuffer(gl.READ_FRAMEBUFFER, this.scratch.fbo);
        gl.bindFramebuffer(gl.DRAW_FRAMEBUFFER, null);
        gl.blitFramebuffer(0, 0, w, h, px, py, px + w, py + h, gl.COLOR_BUFFER_BIT, gl.NEAREST);
      }
      gl.bindFramebuffer(gl.FRAMEBUFFER, null);
      const source = this.canvas;
      for (const [v, px, py] of group) {
        const { width: w, height: h } = v.canvas;
        v.ctx.drawImage(source, px, source.height - py - h, w, h, 0, 0, w, h);
      }
    }
  }

  /** The scratch framebuffer every batched viewer renders into, grown to hold w x h. */
  _scratch(w, h) {
    const gl = this.gl;
    const s = this.scratch;
    if (!s || s.width < w || s.height < h) {
      if (s) {
        gl.deleteFramebuffer(s.fbo);
        gl.deleteTexture(s.texture);
      }
      const width = Math.max(w, s?.width ?? 0);
      const height = Math.max(h, s?.height ?? 0);
      const texture = gl.createTexture();
      gl.bindTexture(gl.TEXTURE_2D, texture);
      gl.texStorage2D(gl.TEXTURE_2D, 1, gl.RGBA8, width, height);
      const fbo = gl.createFramebuffer();
      gl.bindFramebuffer(gl.FRAMEBUFFER, fbo);
      gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, texture, 0);
      this.scratch = { fbo, texture, width, height };
    }
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.scratch.fbo);
  }

  /** Grow (never shrink) the drawing buffer to hold a w x h frame; growing clears it, and each draw is whole. */
  fit(w, h) {
    if (this.canvas.width < w || this.canvas.height < h) {
      this.canvas.width = Math.max(this.canvas.width, w);
      this.canvas.height = Math.max(this.canvas.height, h);
    }
  }
}

let shared = null;
const ATLAS_WIDTH = 2048; // the shared drawing buffer's width for a batch; rows of frames are stacked below
const ATLAS_HEIGHT = 4096; // a batch taller than this is copied out in parts

/** The page's shared context, made on first use (null inside: no WebGL 2 here). */
export function sharedContext() {
  shared ??= new SharedContext();
  return shared;
}

/**
 * One avatar: a container that shows the photo, and the parallax effect when a depth map and WebGL 2 exist.
 *
 * options: shaderBase | shaders, fit ("image": the height follows the photo's aspect like react-depth-map;
 * "container": fill the container's box), alt, pixelRatio (defaults to window.devicePixelRatio), maxPixelRatio
 * (cap, default 2), interactive (listen to pointer/touch/scroll; default true), gyro (phones' tilt), reducedMotion
 * (true/false; default: the user's prefers-reduced-motion, which shows the plain photo), photo (an <img> the page
 * owns, e.g. React's server-rendered one: the canvas lies over it and the viewer never moves it).
 * `ready` resolves to "webgl" or "image" (the fallback; `fallbackReason` says why).
 * All viewers of a page draw with one shared WebGL context (see SharedContext); a viewer out of view or on a hidden
 * tab does not animate; a lost context shows the plain photo until the browser restores it.
 */
export class DepthViewer {
  constructor(container, props = {}, options = {}) {
    this.container = container;
    this.props = { ...props };
    this.options = { fit: "image", interactive: true, ...options };
    this.params = resolveParams(props);
    this.mode = "loading";
    this.fallbackReason = null;
    this.mouse = [0, 0];
    this.target = [0, 0];
    this._inView = true;
    this._listeners = [];
    this._destroyed = false;
    this.image = this.options.photo ?? document.createElement("img");
    if (!this.options.photo) {
      this.image.alt = this.options.alt ?? "";
      this.image.style.cssText = "display:block;width:100%;height:100%;object-fit:cover";
      if (props.originalImg) this.image.src = props.originalImg;
      container.appendChild(this.image);
    }
    this._lifecycle = new AbortController();
    this._watchMotionPreference();
    this.ready = this._start();
  }

  async _start() {
    if (!this.props.originalImg) return this._fallback("no photo");
    if (!this.props.depthImg) return this._fallback("no depth map");
    if (this._reducedMotion()) return this._fallback("reduced motion");
    this.shared = sharedContext();
    this.gl = this.shared.gl;
    if (!this.gl) return this._fallback("no WebGL 2");
    try {
      [this.sources, this.photo, this.depth] = await Promise.all([
        shaderSources(this.options),
        loadImage(this.props.originalImg),
        loadImage(this.props.depthImg),
      ]);
      // A portal whose depth map has no published layers keeps the single-layer shader.
      this.layers = this.params.layered ? await loadLayers(this.props) : null;
      if (!this.layers) this.params.layered = false;
      if (this._destroyed) return this._fallback("destroyed before it was ready");
      this._setup();
    } catch (err) {
      this._retryWhenOnline();
      return this._fallback(err.message);
    }
    const canvas = document.createElement("canvas");
    canvas.style.cssText = "display:block;width:100%";
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", this.image.alt);
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d", { alpha: false });
    this.mode = "webgl";
    this.shared.viewers.add(this);
    this._observer = new ResizeObserver(() => this.layout());
    this._observer.observe(this.container);
    this._visibility = new IntersectionObserver((entries) => this._seen(entries.at(-1).isIntersecting), {
      rootMargin: "50%",
    });
    this._visibility.observe(this.container);
    if (this.options.interactive) this._listen();
    // The preference may have changed while the images loaded: keep everything ready, show the photo.
    if (this._reducedMotion()) return this._fallback("reduced motion");
    this._attach();
    this.layout();
    this.draw();
    return this.mode;
  }

  _fallback(reason) {
    this.mode = "image";
    this.fallbackReason = reason;
    return this.mode;
  }

  /** This viewer's GL objects in the shared context (again after a context loss). */
  _setup() {
    const gl = this.gl;
    if (gl.isContextLost()) throw new Error("the WebGL context was lost");
    ({ program: this.program, locations: this.locations } = this.shared.program(this.sources));
    this.photoSize = [this.photo.naturalWidth, this.photo.naturalHeight];
    this.textures = [
      texture(gl, SCHEMA.photoUnit, this.photo, gl.RGBA8, gl.RGBA, true),
      texture(gl, SCHEMA.depthUnit, this.depth, gl.R8, gl.RED),
    ];
    // Without layers the plate/matte units hold the photo and depth: never sampled, but always complete.
    this.textures.push(
      this.layers ? texture(gl, SCHEMA.plateUnit, this.layers[0], gl.RGBA8, gl.RGBA, true) : this.textures[0],
      this.layers ? texture(gl, SCHEMA.matteUnit, this.layers[1], gl.R8, gl.RED) : this.textures[1],
    );
    this.vao = gl.createVertexArray();
    gl.bindVertexArray(this.vao);
    const buffer = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    gl.enableVertexAttribArray(0);
    gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
    this.buffer = buffer;
  }

  // ---- Lifecycle: showing/hiding the canvas, context loss, reduced motion, retries, visibility. Kept apart from
  // drawing and sizing, which follow react-depth-map's geometry.

  /** Show the canvas: in place of the viewer's own image, or over a page-owned photo (left untouched for React). */
  _attach() {
    if (this.canvas.isConnected) return;
    if (this.options.photo) {
      this.canvas.style.position = "absolute";
      this.canvas.style.inset = "0";
      this.container.appendChild(this.canvas);
    } else {
      this.image.replaceWith(this.canvas);
    }
  }

  /** Show the plain photo again (lost context, reduced motion); the GL state is kept for a later _attach. */
  _detach() {
    this.shared?.unschedule(this);
    if (!this.canvas?.isConnected) return;
    if (this.options.photo) this.canvas.remove();
    else this.canvas.replaceWith(this.image);
  }

  /** The context is gone with every object in it: the plain photo shows until the browser restores it. */
  _contextLost() {
    this._detach();
    this.program = null;
    this.mode = "image";
    this.fallbackReason = "the WebGL context was lost";
  }

  _contextRestored() {
    if (this._reducedMotion()) return;
    try {
      this._setup();
    } catch (err) {
      this.shared.viewers.delete(this);
      this._fallback(err.message);
      return;
    }
    this.mode = "webgl";
    this.fallbackReason = null;
    this._attach();
    this.layout();
    this.draw();
  }

  /** devicePixelRatio capped (default 2): a 3x phone screen would cost 2.25x the pixels for no visible gain. */
  _pixelRatio() {
    const ratio = this.options.pixelRatio ?? window.devicePixelRatio ?? 1;
    return Math.min(ratio, this.options.maxPixelRatio ?? 2);
  }

  /** options.reducedMotion: true/false, or the user's prefers-reduced-motion when not given. */
  _reducedMotion() {
    if (this.options.reducedMotion !== undefined) return Boolean(this.options.reducedMotion);
    return Boolean(globalThis.matchMedia?.("(prefers-reduced-motion: reduce)").matches);
  }

  /** The preference can change while the page is open: the still photo then, the 3D avatar back afterwards. */
  _watchMotionPreference() {
    if (this.options.reducedMotion !== undefined || !globalThis.matchMedia) return;
    const query = matchMedia("(prefers-reduced-motion: reduce)");
    query.addEventListener(
      "change",
      () => {
        if (query.matches && this.mode === "webgl") {
          this._detach();
          this._fallback("reduced motion");
        } else if (!query.matches && this.fallbackReason === "reduced motion") {
          this._restart();
        }
      },
      { signal: this._lifecycle.signal },
    );
  }

  /** Start again from the images (after reduced motion ends, or a failed load once the network is back). */
  _restart() {
    if (this._destroyed) return;
    if (this.program && this.canvas) {
      this.mode = "webgl";
      this.fallbackReason = null;
      this._attach();
      this.layout();
      this.draw();
      return;
    }
    this.mode = "loading";
    this.ready = this._start();
  }

  /** A photo or depth map that failed to load (offline, a CDN hiccup) is tried again when the browser is online. */
  _retryWhenOnline() {
    window.addEventListener("online", () => this._restart(), { once: true, signal: this._lifecycle.signal });
  }

  /** In view (IntersectionObserver, with a margin) and the tab shown: only then does the loop run. */
  get visible() {
    return this._inView && !document.hidden;
  }

  _seen(inView) {
    this._inView = inView;
    if (inView) this.setTarget(...this.target);
  }

  /**
   * Size the canvas in device pixels for its CSS box: fit "image" exactly as react-depth-map does
   * (componentCanvas); fit "container" fills the box, cropping the photo's longer side.
   */
  layout() {
    if (this.mode !== "webgl") return;
    const ratio = this._pixelRatio();
    const cssW = this.container.clientWidth || this.photoSize[0];
    let w, h, resolution;
    if (this.options.fit === "container") {
      const cssH = this.container.clientHeight || cssW;
      w = Math.max(1, Math.round(cssW * ratio));
      h = Math.max(1, Math.round(cssH * ratio));
      resolution = [w / ratio, h / ratio, ...aspectFit(w, h, this.photoSize[0], this.photoSize[1])];
      this.canvas.style.height = `${cssH}px`;
    } else {
      ({ width: w, height: h, resolution } = componentCanvas(cssW, this.photoSize[0], this.photoSize[1], ratio));
      w = Math.max(1, w);
      h = Math.max(1, h);
      this.canvas.style.height = `${resolution[1]}px`;
    }
    const changed = String(resolution) !== String(this.resolution);
    this.resolution = resolution;
    if (!changed && w === this.canvas.width && h === this.canvas.height && ratio === this.ratio) return;
    this.canvas.width = w;
    this.canvas.height = h;
    this.ratio = ratio;
    this.draw();
  }

  /** Change some props (the parameters; not the images) and redraw. */
  setProps(props) {
    const respondTo = this.params.respondTo;
    this.props = { ...this.props, ...props };
    this.params = resolveParams(this.props);
    if (!this.layers) this.params.layered = false; // layers load once, with the photo
    if (this.params.respondTo !== respondTo && this._listeners.length) {
      this._unlisten();
      this._listen();
    }
    this.draw();
  }

  /** Draw one frame with the current (eased) mouse value into the shared context and show it (batched: only render
   * into the bound framebuffer at its origin). */
  draw(batched = false) {
    if (this.mode !== "webgl" || !this.program || this.gl.isContextLost()) return;
    const gl = this.gl;
    const w = this.canvas.width;
    const h = this.canvas.height;
    if (!batched) this.shared.fit(w, h);
    if (!batched) gl.bindFramebuffer(gl.FRAMEBUFFER, null); // a batch renders into its scratch framebuffer
    const loc = this.locations;
    gl.viewport(0, 0, w, h);
    gl.useProgram(this.program);
    gl.uniform4f(loc.u_resolution, ...this.resolution);
    gl.uniform2f(loc.u_mouse, this.mouse[0], this.mouse[1]);
    gl.uniform1f(loc.u_pixelRatio, 1 / this.ratio);
    gl.uniform1i(loc.u_photo, SCHEMA.photoUnit);
    gl.uniform1i(loc.u_depth, SCHEMA.depthUnit);
    gl.uniform1i(loc.u_plate, SCHEMA.plateUnit);
    gl.uniform1i(loc.u_matte, SCHEMA.matteUnit);
    for (const p of SCHEMA.params) {
      if (!p.uniform) continue;
      if (p.kind === "int") gl.uniform1i(loc[p.uniform], this.params[p.web]);
      else gl.uniform1f(loc[p.uniform], this.params[p.web]);
    }
    gl.bindVertexArray(this.vao);
    gl.activeTexture(gl.TEXTURE0 + SCHEMA.photoUnit);
    gl.bindTexture(gl.TEXTURE_2D, this.textures[0]);
    gl.activeTexture(gl.TEXTURE0 + SCHEMA.depthUnit);
    gl.bindTexture(gl.TEXTURE_2D, this.textures[1]);
    gl.activeTexture(gl.TEXTURE0 + SCHEMA.plateUnit);
    gl.bindTexture(gl.TEXTURE_2D, this.textures[2]);
    gl.activeTexture(gl.TEXTURE0 + SCHEMA.matteUnit);
    gl.bindTexture(gl.TEXTURE_2D, this.textures[3]);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    if (batched) return; // SharedContext.drawBatch places and copies it
    // GL's origin is bottom-left: the frame is the bottom w x h of the shared canvas.
    const source = this.shared.canvas;
    this.ctx.drawImage(source, 0, source.height - h, w, h, 0, 0, w, h);
  }

  /** One animation frame's easing step, exactly the component's inertia. */
  tick() {
    const k = SCHEMA.easing;
    this.mouse = [this.mouse[0] + (this.target[0] - this.mouse[0]) * k, this.mouse[1] + (this.target[1] - this.mouse[1]) * k];
    return this.mouse;
  }

  /** Render one frame at a fixed pointer offset in [-1, 1]^2, without easing (tests, stills). */
  renderAt(x, y) {
    this.shared?.unschedule(this);
    this.mouse = [x, y];
    this.target = [x, y];
    this.draw();
  }

  /** The current frame as RGBA bytes, top row first (drawn again: other viewers share the context). */
  pixels() {
    this.draw();
    const gl = this.gl;
    const w = this.canvas.width;
    const h = this.canvas.height;
    const data = new Uint8Array(w * h * 4);
    gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, data);
    const flipped = new Uint8Array(data.length);
    const row = w * 4;
    for (let y = 0; y < h; y++) flipped.set(data.subarray((h - 1 - y) * row, (h - y) * row), y * row);
    return { width: w, height: h, data: flipped };
  }

  /** Move the target; the loop eases towards it (once the viewer is in view). */
  setTarget(x, y) {
    this.target = [x, y];
    if (this.mode === "webgl" && this.visible) this.shared.schedule(this);
  }

  /** |target - mouse| under the threshold on both axes: nothing left to animate. */
  settled() {
    return Math.abs(this.target[0] - this.mouse[0]) <= SETTLED && Math.abs(this.target[1] - this.mouse[1]) <= SETTLED;
  }

  /** Phones: the tilt drives the avatar; on iOS the first tap on the page asks for the permission. */
  _listenGyro(reverse) {
    let base = null;
    this._on(window, "deviceorientation", (e) => {
      if (e.beta === null || e.gamma === null) return;
      base ??= [e.beta, e.gamma];
      this.setTarget(...tiltTarget(e.beta, e.gamma, base, reverse()));
    });
    if (typeof globalThis.DeviceOrientationEvent?.requestPermission === "function" && !gyroPermission) {
      this._on(window, "touchend", () => requestGyroPermission());
      this._on(window, "click", () => requestGyroPermission());
    }
  }

  _on(target, type, handler) {
    target.addEventListener(type, handler, { passive: true });
    this._listeners.push([target, type, handler]);
  }

  _unlisten() {
    for (const [target, type, handler] of this._listeners) target.removeEventListener(type, handler);
    this._listeners = [];
  }

  _listen() {
    const reverse = () => this.params.reverseMotion;
    const respondTo = this.params.respondTo;
    if (respondTo === "mouseMove") {
      const follow = (x, y) => this.setTarget(...pointerTarget(x, y, window.innerWidth, window.innerHeight, reverse()));
      this._on(window, "pointermove", (e) => follow(e.clientX, e.clientY));
      // Touch moves that pan the page cancel the pointer stream; touch events keep coming.
      this._on(window, "touchmove", (e) => e.touches.length && follow(e.touches[0].clientX, e.touches[0].clientY));
      this._on(window, "touchstart", (e) => e.touches.length && follow(e.touches[0].clientX, e.touches[0].clientY));
      if (this.options.gyro) this._listenGyro(reverse);
    } else {
      const onScroll = () => {
        const box = this.container.getBoundingClientRect();
        const t = scrollTarget(box.y, box.height, window.innerHeight, respondTo, reverse());
        if (t) this.setTarget(...t);
      };
      this._on(window, "scroll", onScroll);
      onScroll();
    }
  }

  /** Stop listening and free this viewer's GL objects; the container keeps whatever is displayed. */
  destroy() {
    this._destroyed = true;
    this._lifecycle.abort();
    this.shared?.unschedule(this);
    this._unlisten();
    this._observer?.disconnect();
    this._visibility?.disconnect();
    this.shared?.viewers.delete(this);
    if (this.options.photo) this.canvas?.remove(); // a page-owned photo is shown again (React unmounts, remounts)
    if (this.program && !this.gl.isContextLost()) {
      for (const t of this.textures) this.gl.deleteTexture(t);
      this.gl.deleteVertexArray(this.vao);
      this.gl.deleteBuffer(this.buffer);
    }
    this.program = null;
  }
}

let gyroPermission = null;

/**
 * iOS Safari (13+) sends DeviceOrientation events only after DeviceOrientationEvent.requestPermission(), which it
 * accepts only inside a user gesture (a tap); elsewhere the events need no permission. One prompt per page.
 * Resolves true when the events may come.
 */
export function requestGyroPermission() {
  const request = globalThis.DeviceOrientationEvent?.requestPermission;
  if (typeof request !== "function") return Promise.resolve(Boolean(globalThis.DeviceOrientationEvent));
  gyroPermission ??= request.call(DeviceOrientationEvent).then(
    (state) => state === "granted",
    () => false,
  );
  return gyroPermission;
}

const GYRO_RANGE = 20; // degrees of tilt, from how the phone was first held, for a full pointer offset

/** Tilt (DeviceOrientation beta/gamma, degrees) relative to the first reading, as a pointer target in [-1, 1]. */
export function tiltTarget(beta, gamma, base, reverseMotion = false) {
  const clamp = (v) => Math.min(1, Math.max(-1, v));
  const x = clamp(-(gamma - base[1]) / GYRO_RANGE);
  const y = clamp(-(beta - base[0]) / GYRO_RANGE);
  return reverseMotion ? [-x, -y] : [x, y];
}

/** Every prop the viewer understands, react-depth-map's included: the images plus the schema's parameters. */
export const PROP_NAMES = ["originalImg", "depthImg", "plateImg", "matteImg", ...PARAM_BY_PROP.keys()];

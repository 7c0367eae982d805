// The parallax avatar shader shared by the desktop preview, the offscreen exporter and the web viewer.
// No #version/precision line: depthstudio.render.shader_source prepends the one for each target.
//
// With the default parameters (plane 0.05, counter-motion 1, occlusion steps 0) this is the portal's fixed
// react-depth-map shader, term for term; plane 0.5 is the original component. numpy twin: depthstudio/render/reference.py.

// Per-frame inputs (names listed in depthstudio.render.shader_source.FRAME_UNIFORMS).
uniform vec4 u_resolution;  // xy: output size in CSS pixels, zw: aspect-fit scale (a1, a2)
uniform vec2 u_mouse;       // eased pointer offset in [-1, 1]^2
uniform float u_pixelRatio; // 1 / devicePixelRatio on the web, 1 for offscreen renders
uniform sampler2D u_photo;
uniform sampler2D u_depth;  // disparity in .r, white = near
uniform sampler2D u_plate;  // layered mode: the photo with the subject removed and the hole filled
uniform sampler2D u_matte;  // layered mode: the subject's matte in .r, white = subject

// Shader parameters (one uniform per field of depthstudio.render.params.ShaderParams).
uniform float u_horizontalThreshold;
uniform float u_verticalThreshold;
uniform float u_multiplier;
uniform float u_plane;          // depth that stays still; 0.5 = original (splits avatars), 0.05 = the fix
uniform float u_counterMotion;  // scale of the motion of pixels behind the plane; 1 = web behaviour, 0 = still
uniform int u_occlusionSteps;   // 0 = web behaviour; N > 0 = search N depth layers for the nearest surface
uniform float u_layered;        // 0 = one layer (the web); 1 = plate + matted subject
uniform float u_matteThreshold; // matte value at which the subject is half opaque
uniform float u_matteFeather;   // half-width of the matte's ramp

out vec4 fragColor;

const int MAX_OCCLUSION_STEPS = 32;
const int LAYERED_STEPS = 32;  // the layered mode's occlusion search when u_occlusionSteps is 0
const int LAYERED_REFINE = 8;  // bisection steps of the layered mode's hit

// Mirror-repeat outside [0, 1], exactly as the web component computes it.
vec2 mirrored(vec2 v) {
    vec2 m = mod(v, 2.0);
    return mix(m, 2.0 - m, step(1.0, m));
}

// Signed depth relative to the plane; the part behind the plane is scaled by the counter-motion factor.
float relativeDepth(float d) {
    float s = d - u_plane;
    return s < 0.0 ? s * u_counterMotion : s;
}

// Relief search: walk the depth layers from near to far and take the first surface the ray meets from the
// front, so a near subject slides over the background instead of being clipped by its own still silhouette.
// A ray that enters a surface through a depth jump (the side of a silhouette) has met no front surface: the
// space it reaches is hidden in the photo, and it shows the farthest thing it passed, i.e. background, rather
// than a stretched copy of the subject's edge.
const float WALL_JUMP = 0.15;  // depth change between neighbouring samples that counts as a silhouette side

int searchSteps() {
    if (u_layered > 0.5 && u_occlusionSteps == 0) {
        return LAYERED_STEPS;
    }
    return min(u_occlusionSteps, MAX_OCCLUSION_STEPS);
}

vec2 occludedLookup(vec2 vUv, vec2 threshold) {
    int steps = searchSteps();
    float prevLayer = 1.0;
    float prevGap = 0.0;
    float prevDepth = 0.0;
    float farthest = 2.0;
    vec2 farthestUv = vUv;
    for (int i = 0; i <= MAX_OCCLUSION_STEPS; ++i) {
        if (i > steps) {
            break;
        }
        float layer = 1.0 - float(i) / float(steps);
        vec2 uv = vUv + relativeDepth(layer) * u_mouse / threshold;
        float d = texture(u_depth, mirrored(uv)).r;
        float gap = d - layer;
        if (gap >= 0.0) {
            if (i == 0) {
                return uv;
            }
            if (prevGap < 0.0 && d - prevDepth <= WALL_JUMP) {
                // Linear refinement between the last layer in front of the surface and the first behind it.
                float hit = mix(prevLayer, layer, prevGap / (prevGap - gap));
                return vUv + relativeDepth(hit) * u_mouse / threshold;
            }
        }
        if (d < farthest) {
            farthest = d;
            farthestUv = uv;
        }
        prevLayer = layer;
        prevGap = gap;
        prevDepth = d;
    }
    return farthestUv;
}

// The layered mode's subject lookup: the ray's first crossing of the depth surface, refined by bisection. No
// silhouette-side rule: the matte decides what is subject, and the hit is the exact inverse of each photo pixel's
// own displacement, so the subject's shown edge and its depth silhouette move together.
vec2 layeredLookup(vec2 vUv, vec2 threshold) {
    int steps = searchSteps();
    vec2 k = u_mouse / threshold;
    float hi = 1.0;
    float lo = 0.0;
    float prevLayer = 1.0;
    for (int i = 0; i <= MAX_OCCLUSION_STEPS; ++i) {
        if (i > steps) {
            break;
        }
        float layer = 1.0 - float(i) / float(steps);
        if (texture(u_depth, mirrored(vUv + relativeDepth(layer) * k)).r >= layer) {
            hi = i == 0 ? layer : prevLayer;
            lo = layer;
            break;
        }
        prevLayer = layer;
    }
    for (int j = 0; j < LAYERED_REFINE; ++j) {
        float mid = 0.5 * (hi + lo);
        if (texture(u_depth, mirrored(vUv + relativeDepth(mid) * k)).r >= mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return vUv + relativeDepth(lo) * k;
}

// The matte through the threshold/feather ramp; linear (not smoothstep) so the numpy twin is exact.
float matteAlpha(float m) {
    float lo = u_matteThreshold - u_matteFeather;
    return clamp((m - lo) / max(2.0 * u_matteFeather, 1e-3), 0.0, 1.0);
}

void main() {
    vec2 uv = u_pixelRatio * gl_FragCoord.xy / u_resolution.xy;
    vec2 vUv = (uv - vec2(0.5)) * u_resolution.zw + vec2(0.5);
    vUv.y = 1.0 - vUv.y;
    vec2 threshold = vec2(u_horizontalThreshold, u_verticalThreshold) * u_multiplier;
    vec2 fake3d;
    if (u_layered > 0.5) {
        // Two layers: the plate moves as the far plane (depth 0); the subject is found by the layered search,
        // so a ray that slips past its silhouette lands off the matte and shows the plate.
        vec2 subjectUv = layeredLookup(vUv, threshold);
        vec2 plateUv = vUv + relativeDepth(0.0) * u_mouse / threshold;
        vec4 bg = texture(u_plate, mirrored(plateUv));
        vec4 fg = texture(u_photo, mirrored(subjectUv));
        float a = matteAlpha(texture(u_matte, mirrored(subjectUv)).r);
        fragColor = bg + (fg - bg) * a;
        return;
    }
    if (u_occlusionSteps > 0) {
        fake3d = occludedLookup(vUv, threshold);
    } else {
        float d = texture(u_depth, mirrored(vUv)).r;
        fake3d = vUv + relativeDepth(d) * u_mouse / threshold;
    }
    fragColor = texture(u_photo, mirrored(fake3d));
}

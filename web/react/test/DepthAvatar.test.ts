// Units in Node (no DOM): the built package's server rendering, and the viewer's pure functions the component relies on.
import { createElement } from "react";
import { renderToString } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { layerUrl, pointerTarget, resolveParams, tiltTarget } from "../../../resources/web/depthstudio-viewer.js";
import { DepthAvatar } from "@depthstudio/react"; // the built package, as a portal imports it

describe("server rendering", () => {
  it("renders the plain photo with its size and no canvas, touching no window", () => {
    expect(typeof window).toBe("undefined");
    const html = renderToString(
      createElement(DepthAvatar, { originalImg: "/a.jpg", depthImg: "/a.png", alt: "Ada", width: 512, height: 600 }),
    );
    expect(html).toContain('<img src="/a.jpg" alt="Ada" width="512" height="600"');
    expect(html).toContain('class="image-DepthMap"');
    expect(html).not.toContain("canvas");
  });

  it("keeps react-depth-map's className and style on the container", () => {
    const html = renderToString(createElement(DepthAvatar, { originalImg: "/a.jpg", className: "round", style: { width: 96 } }));
    expect(html).toMatch(/<div class="image-DepthMap round" style="position:relative;width:96px">/);
  });
});

describe("viewer functions", () => {
  it("derives plate and matte URLs the way the store names them", () => {
    expect(layerUrl("https://res.cloudinary.com/x/image/upload/v123/depth/u1.png", "plate")).toBe(
      "https://res.cloudinary.com/x/image/upload/depth/u1-plate.png",
    );
    expect(() => layerUrl("/depth/u1.jpg", "matte")).toThrow(/does not end in .png/);
  });

  it("clamps out-of-range props to the studio's ranges and keeps react-depth-map's defaults", () => {
    const p = resolveParams({ horizontalThreshold: 1000, verticalThreshold: "20", reverseMotion: "true" });
    expect(p.horizontalThreshold).toBe(200);
    expect(p.verticalThreshold).toBe(20);
    expect(p.reverseMotion).toBe(true);
    expect(p.clippingPlane).toBe(0.05);
    expect(p.respondTo).toBe("mouseMove");
  });

  it("maps the pointer like react-depth-map: away from it, reversed on request", () => {
    expect(pointerTarget(800, 300, 800, 600)).toEqual([-1, 0]);
    expect(pointerTarget(0, 0, 800, 600, true)).toEqual([-1, -1]);
  });

  it("maps the phone's tilt from how it was first held, clamped to a full pointer offset", () => {
    expect(tiltTarget(40, 10, [40, 0])).toEqual([-0.5, -0]);
    expect(tiltTarget(90, -60, [40, 0])).toEqual([1, -1]);
    expect(tiltTarget(40, 10, [40, 0], true)).toEqual([0.5, 0]);
  });
});

import { useEffect, useRef, type CSSProperties, type ReactElement } from "react";
import { DepthViewer } from "depthstudio:viewer";
import { SHADERS } from "depthstudio:shaders";

/** react-depth-map's values for respondTo; any string is accepted, as its types did (unknown ones warn). */
export type RespondTo = "mouseMove" | "scrollOnX" | "scrollOnY" | "scrollOnBoth" | (string & {});

/** react-depth-map 1.0.9's props, unchanged: a portal switches by changing its import. */
export interface ImageDepthMapProps {
  originalImg: string;
  /** The depth map (white = near). Empty/null: the plain photo, as the portal shows users without one. */
  depthImg?: string | null;
  verticalThreshold?: number;
  horizontalThreshold?: number;
  respondTo?: RespondTo;
  reverseMotion?: boolean;
  className?: string;
  style?: CSSProperties;
}

export type DepthMode = "webgl" | "image";

/** Plus depthstudio's: the shader parameters the studio exports, the layered mode, and the page's manners. */
export interface DepthAvatarProps extends ImageDepthMapProps {
  /** Multiplies both thresholds (react-depth-map lists it but never reads it; here it works). */
  multiplier?: number;
  /** Depth that stays still: 0.05 is the portal's fix, 0.5 the original shader. */
  clippingPlane?: number;
  counterMotion?: number;
  occlusionSteps?: number;
  /** Plate + matte layers; their URLs default to the depth map's with -plate/-matte, as the store names them. */
  layered?: boolean;
  plateImg?: string;
  matteImg?: string;
  matteThreshold?: number;
  matteFeather?: number;
  alt?: string;
  /** The photo's intrinsic size: the server-rendered <img> reserves its box (no layout shift). */
  width?: number;
  height?: number;
  /** Still photo instead of motion; default: the user's prefers-reduced-motion. */
  reducedMotion?: boolean;
  /** Follow the phone's tilt (iOS asks for permission on the first tap). */
  gyro?: boolean;
  /** devicePixelRatio cap for the canvas (default 2). */
  maxPixelRatio?: number;
  /** Called once the avatar shows: "webgl" (3D) or "image" (plain photo, with the reason). */
  onReady?: (mode: DepthMode, reason: string | null) => void;
}

const PARAM_PROPS = [
  "horizontalThreshold",
  "verticalThreshold",
  "multiplier",
  "clippingPlane",
  "counterMotion",
  "occlusionSteps",
  "matteThreshold",
  "matteFeather",
  "respondTo",
  "reverseMotion",
] as const;

function parameters(props: DepthAvatarProps): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of PARAM_PROPS) if (props[name] !== undefined) out[name] = props[name];
  return out;
}

const PHOTO_STYLE: CSSProperties = { display: "block", width: "100%", height: "auto", objectFit: "cover" };

/**
 * A photo that moves in 3D under the pointer. The server (and a browser without WebGL 2, a user who prefers
 * reduced motion, a lost context) shows the plain <img>; in the browser a canvas drawn by the page's one shared
 * WebGL context lies over it. Only the client effect touches the DOM, so SSR and hydration agree.
 */
export function DepthAvatar(props: DepthAvatarProps): ReactElement {
  const { originalImg, depthImg, plateImg, matteImg, layered, alt, reducedMotion, gyro, maxPixelRatio } = props;
  const box = useRef<HTMLDivElement>(null);
  const photo = useRef<HTMLImageElement>(null);
  const viewer = useRef<DepthViewer | null>(null);
  const latest = useRef(props);
  latest.current = props;
  const params = parameters(props);
  const paramsKey = JSON.stringify(params);

  useEffect(() => {
    if (!box.current || !photo.current) return;
    const v = new DepthViewer(
      box.current,
      { originalImg, depthImg: depthImg || undefined, plateImg, matteImg, layered, ...parameters(latest.current) },
      { photo: photo.current, fit: "container", shaders: SHADERS, alt, reducedMotion, gyro, maxPixelRatio },
    );
    viewer.current = v;
    let live = true;
    void v.ready.then((mode) => {
      if (live) latest.current.onReady?.(mode, v.fallbackReason);
    });
    return () => {
      live = false;
      viewer.current = null;
      v.destroy();
    };
  }, [originalImg, depthImg, plateImg, matteImg, layered, alt, reducedMotion, gyro, maxPixelRatio]);

  useEffect(() => {
    viewer.current?.setProps(params);
    // paramsKey stands for params: a new object each render, the same values
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [paramsKey]);

  const className = props.className ? `image-DepthMap ${props.className}` : "image-DepthMap";
  return (
    <div ref={box} className={className} style={{ position: "relative", ...props.style }}>
      <img ref={photo} src={originalImg} alt={alt ?? ""} width={props.width} height={props.height} style={PHOTO_STYLE} />
    </div>
  );
}

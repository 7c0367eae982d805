import * as viewer from "depthstudio:viewer";

export { DepthAvatar, DepthAvatar as default } from "./DepthAvatar.js";
export type { DepthAvatarProps, DepthMode, ImageDepthMapProps, RespondTo } from "./DepthAvatar.js";

/** Where the store puts a depth map's layer: its URL with -plate/-matte before .png (Cloudinary version dropped). */
export const layerUrl: (depthUrl: string, layer: "plate" | "matte") => string = viewer.layerUrl;

/** iOS: call from a tap handler to allow the tilt (gyro) motion; resolves true when orientation events may come. */
export const requestGyroPermission: () => Promise<boolean> = viewer.requestGyroPermission;

/** What one avatar shows now. */
export interface AvatarState {
  readonly mode: "loading" | "webgl" | "image";
  readonly fallbackReason: string | null;
}

/** The page's one WebGL context: its avatars, and how often the browser took it away. */
export interface SharedContextInfo {
  readonly gl: WebGL2RenderingContext | null;
  readonly viewers: ReadonlySet<AvatarState>;
  readonly lost: number;
}

/** The page's shared context (created on first use; browser only). For diagnostics and tests. */
export const sharedContext: () => SharedContextInfo = viewer.sharedContext;

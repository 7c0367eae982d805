// The two modules the build provides (build.mjs): the repository's web viewer and the shader files' text.

declare module "depthstudio:viewer" {
  export interface ViewerOptions {
    photo?: HTMLImageElement;
    fit?: "image" | "container";
    shaders?: { vertex: string; fragment: string };
    alt?: string;
    reducedMotion?: boolean;
    gyro?: boolean;
    maxPixelRatio?: number;
    interactive?: boolean;
  }
  export class DepthViewer {
    constructor(container: HTMLElement, props: Record<string, unknown>, options?: ViewerOptions);
    readonly ready: Promise<"webgl" | "image">;
    readonly mode: "loading" | "webgl" | "image";
    readonly fallbackReason: string | null;
    setProps(props: Record<string, unknown>): void;
    destroy(): void;
  }
  export function layerUrl(depthUrl: string, layer: "plate" | "matte"): string;
  export function requestGyroPermission(): Promise<boolean>;
  export function sharedContext(): { gl: WebGL2RenderingContext | null; viewers: Set<DepthViewer>; lost: number };
}

declare module "depthstudio:shaders" {
  export const SHADERS: { vertex: string; fragment: string };
}

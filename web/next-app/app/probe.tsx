"use client";
// Test hook: the page's shared WebGL context (the package's own instance) on window, for the browser tests.
import { useEffect } from "react";
import { sharedContext } from "@depthstudio/react";

export function Probe() {
  useEffect(() => {
    (window as unknown as { depthstudio: unknown }).depthstudio = { sharedContext };
  }, []);
  return null;
}

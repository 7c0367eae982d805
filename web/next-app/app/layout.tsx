import type { ReactNode } from "react";
import { Probe } from "./probe";

export const metadata = { title: "depthstudio avatars" };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body style={{ margin: 0, background: "#1d1f24", color: "#e8e8e8", fontFamily: "system-ui, sans-serif" }}>
        {children}
        <Probe />
      </body>
    </html>
  );
}

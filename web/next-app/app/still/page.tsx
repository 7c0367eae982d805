import { DepthAvatar } from "@depthstudio/react";

// One avatar in a 192 x 192 box at the page's top-left corner: the browser test compares it with the numpy reference.
// ?gyro=1 turns on the phone-tilt motion.
export default async function Still({ searchParams }: { searchParams: Promise<{ gyro?: string }> }) {
  const gyro = (await searchParams).gyro === "1";
  return (
    <div style={{ position: "absolute", left: 0, top: 0, width: 192 }}>
      <DepthAvatar
        originalImg="/demo/avatars/astronaut.png"
        depthImg="/demo/depth/astronaut.png"
        alt="Eileen Collins"
        width={512}
        height={512}
        gyro={gyro}
      />
    </div>
  );
}

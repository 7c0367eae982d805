// A portal's page, type-checked with tsc --strict against the built package (dist/*.d.ts), as a consumer sees it.
// react-depth-map's import swapped for ours; the props it took, unchanged; then ours.
import ImageDepthMap, { DepthAvatar, layerUrl, requestGyroPermission, type DepthAvatarProps } from "@depthstudio/react";

interface User {
  name: string;
  avatar: string;
  avatarDepthMap: string | null;
}

export function Speaker({ user }: { user: User }) {
  return (
    <ImageDepthMap
      originalImg={user.avatar}
      depthImg={user.avatarDepthMap ?? ""}
      verticalThreshold={25}
      horizontalThreshold={15}
      respondTo="mouseMove"
      reverseMotion={false}
      className="avatar"
      style={{ borderRadius: 8 }}
    />
  );
}

const layered: DepthAvatarProps = {
  originalImg: "/a.jpg",
  depthImg: "/a-depth.png",
  layered: true,
  clippingPlane: 0.05,
  gyro: true,
  reducedMotion: false,
  width: 512,
  height: 512,
  onReady: (mode, reason) => console.log(mode, reason?.length),
};

export function Layered() {
  const plate: string = layerUrl("/a-depth.png", "plate");
  return <DepthAvatar {...layered} plateImg={plate} />;
}

export const askForTilt: () => Promise<boolean> = requestGyroPermission;

// A speakers page: the demo avatars over and over, one user in five without a depth map (the plain photo).
const SAMPLES = [
  { photo: "astronaut.png", depth: "astronaut.png", size: [512, 512] },
  { photo: "grace_hopper.jpg", depth: "grace_hopper.png", size: [512, 600] },
  { photo: "camera.png", depth: "camera.png", size: [512, 512] },
  { photo: "chelsea.png", depth: "chelsea.png", size: [451, 300] },
  { photo: "camera.png", depth: null, size: [512, 512] },
] as const;

export interface Person {
  id: number;
  name: string;
  avatar: string;
  avatarDepthMap: string | null;
  width: number;
  height: number;
}

export function people(count: number): Person[] {
  return Array.from({ length: count }, (_, id) => {
    const s = SAMPLES[id % SAMPLES.length];
    return {
      id,
      name: `Speaker ${id + 1}`,
      avatar: `/demo/avatars/${s.photo}`,
      avatarDepthMap: s.depth && `/demo/depth/${s.depth}`,
      width: s.size[0],
      height: s.size[1],
    };
  });
}

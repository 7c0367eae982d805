// The speakers grid both benchmark pages render: n avatars from the demo data (?n=16), 96 px wide each.
const SAMPLES = [
  ["astronaut.png", "astronaut.png"],
  ["grace_hopper.jpg", "grace_hopper.png"],
  ["camera.png", "camera.png"],
  ["chelsea.png", "chelsea.png"],
];

export function count() {
  return Number(new URLSearchParams(location.search).get("n") ?? 16);
}

export function Grid({ Avatar, n }) {
  const cells = Array.from({ length: n }, (_, i) => {
    const [photo, depth] = SAMPLES[i % SAMPLES.length];
    return (
      <div key={i} style={{ width: 96 }}>
        <Avatar
          originalImg={`/resources/demo/avatars/${photo}`}
          depthImg={`/resources/demo/depth/${depth}`}
          horizontalThreshold={35}
          verticalThreshold={35}
        />
      </div>
    );
  });
  return <div style={{ display: "flex", flexWrap: "wrap", gap: 4 }}>{cells}</div>;
}

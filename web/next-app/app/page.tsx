import DepthAvatar from "@depthstudio/react";
import { people } from "./people";

// ?n=60: how many speakers the page lists.
export default async function Speakers({ searchParams }: { searchParams: Promise<{ n?: string }> }) {
  const n = Math.min(Math.max(Number((await searchParams).n ?? 60) || 60, 1), 300);
  return (
    <main style={{ padding: 16 }}>
      <h1 style={{ fontSize: 18 }}>Speakers</h1>
      <div style={{ display: "grid", gridTemplateColumns: "repeat(auto-fill, minmax(96px, 1fr))", gap: 8 }}>
        {people(n).map((p) => (
          <figure key={p.id} style={{ margin: 0 }} data-user={p.id}>
            <DepthAvatar
              originalImg={p.avatar}
              depthImg={p.avatarDepthMap ?? ""}
              horizontalThreshold={35}
              verticalThreshold={35}
              alt={p.name}
              width={p.width}
              height={p.height}
            />
            <figcaption style={{ fontSize: 11 }}>{p.name}</figcaption>
          </figure>
        ))}
      </div>
    </main>
  );
}

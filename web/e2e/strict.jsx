// StrictMode page (React's development build, which mounts, unmounts and mounts every effect once more):
// window.mountAvatars(n) / window.unmountAvatars() let the browser test count what stays behind.
import { StrictMode, version } from "react";
import { createRoot } from "react-dom/client";
import DepthAvatar, { sharedContext } from "@depthstudio/react";

const SAMPLES = ["astronaut", "camera", "chelsea", null];
window.depthstudio = { sharedContext, react: version };
const root = createRoot(document.getElementById("root"));

window.mountAvatars = (n) =>
  root.render(
    <StrictMode>
      {Array.from({ length: n }, (_, i) => (
        <div key={i} style={{ width: 96, display: "inline-block" }}>
          <DepthAvatar
            originalImg={`/demo/avatars/${SAMPLES[i % 4] ?? "camera"}.png`}
            depthImg={SAMPLES[i % 4] && `/demo/depth/${SAMPLES[i % 4]}.png`}
            width={512}
            height={512}
          />
        </div>
      ))}
    </StrictMode>,
  );
window.unmountAvatars = () => root.render(<StrictMode>{null}</StrictMode>);

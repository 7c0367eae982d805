// Benchmark page: @depthstudio/react (the built package) on React 19.
import { createRoot } from "react-dom/client";
import DepthAvatar from "@depthstudio/react";
import { Grid, count } from "./grid.jsx";

createRoot(document.getElementById("root")).render(<Grid Avatar={DepthAvatar} n={count()} />);

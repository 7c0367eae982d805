// Benchmark page: react-depth-map 1.0.9 on React 16, its peer (the build aliases react/react-dom to 16.14).
import { render } from "react-dom";
import ImageDepthMap from "react-depth-map";
import { Grid, count } from "./grid.jsx";

render(<Grid Avatar={ImageDepthMap} n={count()} />, document.getElementById("root"));

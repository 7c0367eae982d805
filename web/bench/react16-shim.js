// React 16 has no automatic JSX runtime: the rdm page's JSX compiles to React.createElement.
import * as React from "react-16";
export { React };

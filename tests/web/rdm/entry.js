// Test page bundle: the published react-depth-map and the portal's fork (a copy patched by tests/real_component.py),
// mounted with React 16 as a portal mounts them. esbuild bundles this file; nothing of the component is rewritten.
import React from "react";
import ReactDOM from "react-dom";
import Published from "react-depth-map";
import Fork from "./fork/ImageDepthMap.js";

const COMPONENTS = { "react-depth-map": Published, "react-depth-map-fork": Fork };

/** Mount `component` with `props` in a box `width` CSS pixels wide; resolves once both images loaded and it drew. */
window.mountComponent = (component, props, width) =>
  new Promise((resolve, reject) => {
    document.querySelectorAll(".host").forEach((h) => {
      ReactDOM.unmountComponentAtNode(h);
      h.remove();
    });
    const host = document.createElement("div");
    host.className = "host";
    host.style.width = `${width}px`;
    document.body.appendChild(host);
    ReactDOM.render(React.createElement(COMPONENTS[component], props), host);
    const started = Date.now();
    const poll = () => {
      const root = host.querySelector(".image-DepthMap");
      if (root && root.classList.contains("loaded") && root.querySelector("canvas")) {
        resolve(root.offsetWidth);
      } else if (Date.now() - started > 20000) {
        reject(new Error(`${component} did not load its images in 20 s`));
      } else {
        setTimeout(poll, 10);
      }
    };
    poll();
  });

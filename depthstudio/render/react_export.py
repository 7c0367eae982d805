"""The portal's React side of an export: ``<DepthAvatar>`` JSX for a user, and the example file ``export-web`` writes.

Every value goes in as a JSON literal inside ``{...}``: JSON is valid JavaScript, so a name or URL written by a
stranger stays a string (quotes, braces, ``</script>`` and all) and never becomes markup or code.
"""

from __future__ import annotations

import json
from typing import Any

from depthstudio.resources import resource

PACKAGE = "@depthstudio/react"
TARBALL = (
    "depthstudio-react-0.1.0.tgz"  # web/react's `npm pack`, shipped in resources/web (`npm run pack` in web/react)
)
IMPORT = f'import DepthAvatar from "{PACKAGE}";'

# The order a reader expects: the images, then react-depth-map's props, then ours as they come.
_FIRST = ("originalImg", "depthImg", "plateImg", "matteImg", "alt", "width", "height")


def _prop(name: str, value: Any) -> str:
    if value is True:
        return name
    if isinstance(value, str):
        return f"{name}={{{json.dumps(value, ensure_ascii=False)}}}"
    return f"{name}={{{json.dumps(value)}}}"


# The element and its import for each [web] target (depthstudio.render.target.TARGETS): react-depth-map's README
# imports its default export as ImageDepthMap; the fork is published under the same name.
ELEMENTS = {
    "depthstudio": ("DepthAvatar", PACKAGE),
    "react-depth-map": ("ImageDepthMap", "react-depth-map"),
    "react-depth-map-fork": ("ImageDepthMap", "react-depth-map"),
}


def jsx_element(props: dict[str, Any], indent: str = "", element: str = "DepthAvatar") -> str:
    """``<DepthAvatar .../>`` with one prop per line; False booleans and None values are left out (the default)."""
    ordered = [k for k in _FIRST if k in props] + [k for k in props if k not in _FIRST]
    lines = [_prop(k, props[k]) for k in ordered if props[k] is not None and props[k] is not False]
    inner = "".join(f"\n{indent}  {line}" for line in lines)
    return f"{indent}<{element}{inner}\n{indent}/>"


def jsx_snippet(props: dict[str, Any], target: str = "depthstudio") -> str:
    """What "Copy JSX" puts on the clipboard: the target component's import and element, ready to paste."""
    element, package = ELEMENTS[target]
    return f'import {element} from "{package}";\n\n{jsx_element(props, element=element)}\n'


def react_example(users: list[dict[str, Any]], base_url: str = "/depthstudio") -> str:
    """A component listing the exported users, their images under ``base_url`` (where the export is served)."""
    items = []
    for u in users:
        props = dict(u["props"])
        for key in ("originalImg", "depthImg", "plateImg", "matteImg"):
            if key in props:
                props[key] = f"{base_url}/users/{u['folder']}/{props[key]}"
        if u.get("name"):
            props["alt"] = u["name"]
        items.append(jsx_element(props, indent="      "))
    body = "\n".join(items) if items else "      {/* no users were exported */}"
    return (
        "// Written by `depthstudio export-web`: the exported users as <DepthAvatar> elements (@depthstudio/react).\n"
        f"// Install the package from the tarball beside this file: npm install ./{TARBALL}\n"
        f"// Serve the export folder at {base_url}/ (or change the URLs), then render <ExportedAvatars /> in a page.\n"
        f"{IMPORT}\n\n"
        "export function ExportedAvatars() {\n"
        "  return (\n"
        '    <div style={{ display: "grid", gridTemplateColumns: "repeat(auto-fill, minmax(160px, 1fr))", gap: 16 }}>\n'
        f"{body}\n"
        "    </div>\n"
        "  );\n"
        "}\n"
    )


def tarball() -> bytes:
    """The package tarball shipped with depthstudio (``npm pack`` of web/react)."""
    return resource("resources", "web", TARBALL).read_bytes()

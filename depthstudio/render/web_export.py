"""The web side of the shader: the viewer's generated schema and the "Export for web" folder (no Qt, no GL).

The viewer (``resources/web/depthstudio-viewer.js``) carries a generated block with everything it must agree on
with Python: each parameter's web prop name, uniform, range and default, the GLSL ES header, the easing factor.
``viewer_schema`` is that block's source, so the web cannot drift from ``PARAM_SPECS`` unnoticed (a test
regenerates it). ``export_web`` writes a folder a web developer can drop on the portal and a designer can open
by double-click: the standalone ``index.html`` inlines the viewer, the shaders and the images, because Chromium
blocks module scripts, ``fetch`` and WebGL textures from other files on ``file://`` pages.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import re
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from depthstudio.cancel import CancelToken
from depthstudio.errors import ConfigError, DepthstudioError, ImagingError, RenderError
from depthstudio.imaging.crop import full_frame, map_frame, through_display_crop
from depthstudio.imaging.types import Avatar
from depthstudio.portal.repository import Portal, Query, UserRow
from depthstudio.portal.shown_map import shown_map
from depthstudio.render.motion import EASING
from depthstudio.render.param_layers import global_defaults, user_params
from depthstudio.render.params import SPECS_BY_NAME, ShaderParams, specs_for_web
from depthstudio.render.react_export import TARBALL, react_example, tarball
from depthstudio.render.result_plates import MATTE, PLATE, layer_pngs, stored_layers
from depthstudio.render.shader_source import (
    DEPTH_UNIT,
    FRAME_UNIFORMS,
    HEADERS,
    MATTE_UNIT,
    PHOTO_UNIT,
    PLATE_UNIT,
    POSITION_ATTRIBUTE,
    raw_source,
)
from depthstudio.render.target import Target, target
from depthstudio.resources import resource

VIEWER_FILE = "depthstudio-viewer.js"
SHADER_FILES = {"vertex": "parallax.vert", "fragment": "parallax.frag"}
REACT_EXAMPLE = "ExportedAvatars.tsx"
MANIFEST = "users.json"  # the export's index; with GENERATOR in it, marks a folder safe to replace
GENERATOR = "depthstudio export-web"

_BLOCK = re.compile(
    r"(// BEGIN GENERATED SCHEMA[^\n]*\n)export const SCHEMA = .*?;\n(// END GENERATED SCHEMA)", re.DOTALL
)

AvatarLoader = Callable[[str], Avatar]

log = logging.getLogger(__name__)


def viewer_schema() -> dict[str, Any]:
    """What the viewer must know from Python, as JSON: derived from PARAM_SPECS and shader_source only."""
    return {
        "attribute": POSITION_ATTRIBUTE,
        "depthUnit": DEPTH_UNIT,
        "easing": EASING,
        "frameUniforms": list(FRAME_UNIFORMS),
        "glslHeader": HEADERS["es300"],
        "params": specs_for_web(),
        "matteUnit": MATTE_UNIT,
        "photoUnit": PHOTO_UNIT,
        "plateUnit": PLATE_UNIT,
        "respondTo": list(SPECS_BY_NAME["respond_to"].choices),
        "shaderFiles": SHADER_FILES,
    }


def _with_schema(module_text: str) -> str:
    block = "export const SCHEMA = " + json.dumps(viewer_schema(), indent=2, sort_keys=True) + ";\n"
    if not _BLOCK.search(module_text):
        raise RenderError(f"{VIEWER_FILE} lost its GENERATED SCHEMA markers", kind="viewer_schema")
    return _BLOCK.sub(lambda m: m.group(1) + block + m.group(2), module_text, count=1)


def sync_viewer_schema(*, write: bool) -> bool:
    """True when the viewer's schema block matches PARAM_SPECS; with ``write``, make it so."""
    path = resource("resources", "web", VIEWER_FILE)
    current = path.read_text(encoding="utf-8")
    wanted = _with_schema(current)
    if wanted != current and write:
        path.write_text(wanted, encoding="utf-8")
    return wanted == current


# --- images -----------------------------------------------------------------------------------------------


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _decode(data: bytes, what: str) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return img.copy()
    except Exception as exc:
        raise RenderError(f"the stored {what} cannot be decoded ({exc})", kind="bad_depth") from None


def photo_in_depth_frame(avatar: Avatar, depth_size: tuple[int, int]) -> Image.Image:
    """The photo framed like its depth map, at the photo's own resolution.

    Maps cover the whole photo (DESIGN §4); a square map of a non-square photo, made before maps kept the photo's
    frame, covers the old square crop (``imaging.crop.map_frame``). The shader maps both textures by UV, so the
    photo may have more pixels than the map, but never another frame.
    """
    original = avatar.original.convert("RGB")
    try:
        box = map_frame(*original.size, *depth_size)
    except ImagingError as err:
        raise RenderError(str(err), kind="frame_mismatch") from None
    if box == full_frame(*original.size):
        return original
    return original.crop((box.left, box.top, box.right, box.bottom))


# --- the export -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportItem:
    """One user's outcome: ``depth`` (parallax), ``plain`` (no depth map: the plain image), ``skipped``, ``failed``."""

    user_id: str
    outcome: str
    message: str = ""
    kind: str = ""


@dataclass
class ExportSummary:
    out_dir: Path
    items: list[ExportItem] = field(default_factory=list)

    def ids(self, outcome: str) -> list[str]:
        return [i.user_id for i in self.items if i.outcome == outcome]

    @property
    def ok(self) -> bool:
        return not self.ids("failed")


# Device names Windows refuses as file names, whatever the extension.
_RESERVED_NAMES = {"con", "prn", "aux", "nul", *(f"{d}{n}" for d in ("com", "lpt") for n in range(10))}


def _folder_name(user_id: str) -> str:
    """A folder per user that is safe on every disk: lower-case, so ids differing only in case (``Bob``, ``bob``)
    never share one on case-insensitive file systems; other ids get a readable form plus a hash of the id."""
    if re.fullmatch(r"[a-z0-9_-]{1,80}", user_id) and user_id not in _RESERVED_NAMES:
        return user_id
    safe = re.sub(r"[^a-z0-9_-]+", "-", user_id.lower())[:40].strip("-") or "user"
    return f"{safe}-{uuid.uuid5(uuid.NAMESPACE_URL, user_id).hex[:8]}"


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name-2``, ``name-3``... when an id happens to equal another id's hashed folder name."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}-{n}"
    taken.add(candidate)
    return candidate


def _stored_layers(portal: Portal, row: UserRow) -> dict[str, bytes] | None:
    """The plate and matte stored with the result this user shows (None: derive them, or a foreign map)."""
    result_id = shown_map(row).result_id
    return stored_layers(portal, result_id) if result_id is not None else None


def _depth_png(portal: Portal, row: UserRow, load: AvatarLoader) -> bytes | None:
    """The map this user shows on the web (``shown_map``), as PNG bytes; None for the plain image."""
    shown = shown_map(row)
    if shown.result_id is not None:
        data = portal.result_png(shown.result_id)
        if data:
            return data
    if shown.portal_url:
        return _png(load(shown.portal_url).original.convert("L"))
    return None


@dataclass(frozen=True)
class RenderInputs:
    """What a user's avatar looks like on the web: photo, depth map (None: the plain image) and parameters."""

    photo: Image.Image
    depth: Image.Image | None
    params: ShaderParams
    layers: dict[str, bytes] | None = None  # the plate and matte stored with the shown result, if any


def layers_through_display_crop(
    layers: dict[str, bytes] | None, frame: tuple[int, int], mode: str
) -> dict[str, bytes] | None:
    """Stored plate/matte PNGs cut by the portal's display crop, like the photo and map of that ``frame``."""
    if layers is None or mode == "none":
        return layers
    return {k: _png(through_display_crop(_decode(v, k), frame, mode)) for k, v in layers.items()}


def render_inputs(portal: Portal, user_id: str, load: AvatarLoader | None = None) -> RenderInputs:
    """The web's view of one user, for ``depthstudio render USER`` and anything else that needs it: through the
    portal's display crop, with the parameters as the configured web component draws them ([web])."""
    row = portal.get_user(user_id)
    if row is None:
        raise RenderError(f"no user {user_id!r} in the portal", kind="no_user")
    if not row.avatar:
        raise RenderError(f"user {user_id!r} has no photo", kind="no_photo")
    load = load or _default_loader(portal)
    web = portal.config.web
    avatar = load(row.avatar)
    params = target(web.target).drawn(user_params(portal, global_defaults(portal), row.id))
    depth_png = _depth_png(portal, row, load)
    if depth_png is None:
        photo = avatar.original.convert("RGB")
        return RenderInputs(through_display_crop(photo, photo.size, web.display_crop), None, params)
    depth = _decode(depth_png, "depth map").convert("L")
    photo = photo_in_depth_frame(avatar, depth.size)
    frame, crop = photo.size, web.display_crop
    layers = _stored_layers(portal, row) if params.layered else None
    return RenderInputs(
        through_display_crop(photo, frame, crop),
        through_display_crop(depth, frame, crop),
        params,
        layers_through_display_crop(layers, frame, crop),
    )


def web_images(portal: Portal, row: UserRow) -> tuple[str | None, str | None]:
    """``originalImg`` and ``depthImg`` for a user's props: the portal's avatar URL and its published map's URL;
    before publishing, the shown result written to a local file (``<data dir>/web-props``), so the props draw now.
    """
    shown = shown_map(row, reviewing=True)
    if shown.result_id is None or (row.status == "published" and row.depth_url):
        return row.avatar, row.depth_url  # published, or the portal's own map (None: the plain image)
    png = portal.result_png(shown.result_id)
    if not png:
        return row.avatar, row.depth_url
    from depthstudio.config import data_dir

    folder = data_dir() / "web-props"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_folder_name(row.id)}-{shown.result_id}.png"
    path.write_bytes(png)
    return row.avatar, path.as_uri()


def _export_user(
    portal: Portal, row: UserRow, defaults: ShaderParams, load: AvatarLoader, folder: Path, component: Target
) -> tuple[ExportItem, dict[str, Any] | None]:
    if not row.avatar:
        return ExportItem(row.id, "skipped", "the user has no photo", "no_photo"), None
    crop = portal.config.web.display_crop
    params = user_params(portal, defaults, row.id)
    drawn = component.drawn(params)
    avatar = load(row.avatar)
    depth_png = _depth_png(portal, row, load)
    images: dict[str, Any] = {}
    folder.mkdir(parents=True)
    if depth_png is None:
        photo = avatar.original.convert("RGB")
        (folder / "photo.png").write_bytes(_png(through_display_crop(photo, photo.size, crop)))
        images["originalImg"] = "photo.png"
        outcome = ExportItem(row.id, "plain", "no depth map: the plain image")
    else:
        depth = _decode(depth_png, "depth map").convert("L")
        photo = photo_in_depth_frame(avatar, depth.size)
        (folder / "photo.png").write_bytes(_png(through_display_crop(photo, photo.size, crop)))
        (folder / "depth.png").write_bytes(_png(through_display_crop(depth, photo.size, crop)))
        images["originalImg"], images["depthImg"] = "photo.png", "depth.png"
        if component.plane is None:  # only our viewer draws layers
            images.update(_write_layers(portal, row, folder, drawn, through_display_crop(depth, photo.size, crop)))
            for name in ("plate.png", "matte.png"):
                if crop != "none" and (folder / name).exists():
                    layer = _decode((folder / name).read_bytes(), name)
                    if layer.size != through_display_crop(depth, photo.size, crop).size:
                        (folder / name).write_bytes(_png(through_display_crop(layer, photo.size, crop)))
        outcome = ExportItem(row.id, "depth")
    # params.json: the target component's own props; the standalone page draws them with our viewer, which
    # needs every parameter spelt out (a react-depth-map target draws plane 0.5, not our default).
    props = {**images, **component.props(params, None, None)}
    (folder / "params.json").write_text(json.dumps(props, indent=2) + "\n", encoding="utf-8")
    entry = {"id": row.id, "name": row.name, "folder": folder.name, "props": {**images, **drawn.web_props()}}
    return outcome, entry


def _write_layers(
    portal: Portal, row: UserRow, folder: Path, params: ShaderParams, depth: Image.Image
) -> dict[str, str]:
    """plate.png and matte.png beside the map (the stored ones, or derived when the user is shown layered), and
    their props; nothing for an older result that is not shown layered (a web developer turns it on later)."""
    layers = _stored_layers(portal, row)
    if layers is None and params.layered:
        layers = layer_pngs(Image.open(folder / "photo.png").convert("RGB"), np.asarray(depth))
    if layers is None:
        return {}
    (folder / "plate.png").write_bytes(layers[PLATE])
    (folder / "matte.png").write_bytes(layers[MATTE])
    return {"plateImg": "plate.png", "matteImg": "matte.png"}


def _data_url(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


# Inside <script> the HTML parser ends the element at ``</script`` and enters another state at ``<!--``; JSON
# strings may carry ``<``, ``>`` and ``&`` as \u escapes, so no user string can reach the parser as markup.
_HTML_UNSAFE_JSON = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})
_PLACEHOLDER = re.compile(r"\{\{(TITLE|DATA|VIEWER)\}\}")


def _json_for_html(value: Any) -> str:
    """JSON that stays data inside a <script> element (ASCII only, so U+2028/2029 are escaped too)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).translate(_HTML_UNSAFE_JSON)


def standalone_html(viewer_source: str, shaders: dict[str, str], users: list[dict[str, Any]], title: str) -> str:
    """The preview page with everything inline, so it runs from ``file://`` with no network and no server.

    The template is filled in one pass: a name or title holding ``{{VIEWER}}`` is text, never a placeholder.
    """
    lowered = viewer_source.lower()
    if "</script" in lowered or "<!--" in lowered:
        raise RenderError(f"{VIEWER_FILE} contains '</script' or '<!--' and cannot be inlined", kind="viewer_schema")
    template = resource("resources", "web", "preview-template.html").read_text(encoding="utf-8")
    values = {
        "TITLE": html.escape(title, quote=True),
        "DATA": _json_for_html({"shaders": shaders, "users": users}),
        "VIEWER": viewer_source,
    }
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def _all_users(portal: Portal) -> list[UserRow]:
    rows: list[UserRow] = []
    while True:
        page = portal.list_users(Query(), offset=len(rows), limit=1000)
        rows += page
        if len(page) < 1000:
            return rows


def _default_loader(portal: Portal) -> AvatarLoader:
    from depthstudio.imaging import load_avatar

    policy = portal.config.fetch.policy()
    return lambda url: load_avatar(url, policy)


def _is_earlier_export(folder: Path) -> bool:
    """Only our own manifest counts: ``users.json`` alone is a common name in unrelated projects."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(manifest, dict) and manifest.get("generator") == GENERATOR


def _replace_dir(built: Path, out_dir: Path) -> None:
    """Swap the finished export in; an existing folder is replaced only if it is empty or an earlier export."""
    if out_dir.exists():
        if not out_dir.is_dir() or (any(out_dir.iterdir()) and not _is_earlier_export(out_dir)):
            raise ConfigError(
                f"{out_dir} exists and is not an earlier web export (no {MANIFEST} written by {GENERATOR}); "
                "choose an empty or new folder",
                kind="export_target",
            )
        old = out_dir.with_name(f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}")
        out_dir.rename(old)
        built.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        built.rename(out_dir)


def export_web(
    portal: Portal,
    user_ids: Iterable[str] | None,
    out_dir: Path,
    *,
    load_avatar: AvatarLoader | None = None,
    on_item: Callable[[ExportItem], None] | None = None,
    cancel: CancelToken | None = None,
    title: str = "depthstudio web preview",
) -> ExportSummary:
    """Write ``out_dir``: per-user ``params.json`` (web prop names) with photo/depth PNGs, the viewer module,
    the shader files, a standalone ``index.html`` and ``react/`` (a ``<DepthAvatar>`` example over the exported
    users and the ``@depthstudio/react`` tarball). ``user_ids=None`` exports every user.

    The folder is built beside ``out_dir`` and swapped in at the end, so a failure or a cancel never leaves a
    half-written export. One user's failure (an unreachable photo) is reported and the others go on.
    """
    out_dir = Path(out_dir).resolve()
    load = load_avatar or _default_loader(portal)
    defaults = global_defaults(portal)
    component = target(portal.config.web.target)
    if user_ids is None:
        rows = _all_users(portal)
    else:
        rows = []
        for uid in dict.fromkeys(str(u) for u in user_ids):  # a repeated id is exported once
            row = portal.get_user(uid)
            if row is None:
                raise ConfigError(f"no user with id {uid!r} in the portal", kind="unknown_user")
            rows.append(row)
    built = out_dir.with_name(f".{out_dir.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        built.mkdir()
    except OSError as err:
        raise ConfigError(
            f"cannot create the export folder {out_dir} ({err.strerror or err}); choose another place",
            kind="export_target",
        ) from None
    summary = ExportSummary(out_dir)
    try:
        entries = []
        taken: set[str] = set()
        for row in rows:
            if cancel is not None:
                cancel.raise_if_cancelled()
            folder = built / "users" / _unique(_folder_name(row.id), taken)
            try:
                item, entry = _export_user(portal, row, defaults, load, folder, component)
            except DepthstudioError as err:
                shutil.rmtree(folder, ignore_errors=True)
                item, entry = ExportItem(row.id, "failed", str(err), err.kind), None
            except OSError as err:  # this user's files could not be written; the others may still be
                shutil.rmtree(folder, ignore_errors=True)
                item, entry = ExportItem(row.id, "failed", f"cannot write {folder.name}: {err}", "write_failed"), None
            summary.items.append(item)
            if entry is not None:
                entries.append(entry)
            if on_item is not None:
                on_item(item)
        _write_shared_files(built, entries, title)
        _replace_dir(built, out_dir)
    except OSError as err:  # a full disk, a permission taken away meanwhile: nothing half-written stays
        shutil.rmtree(built, ignore_errors=True)
        raise RenderError(f"cannot write the export to {out_dir} ({err})", kind="export_write") from None
    except BaseException:
        shutil.rmtree(built, ignore_errors=True)
        raise
    return summary


def _write_shared_files(built: Path, entries: list[dict[str, Any]], title: str) -> None:
    viewer_source = resource("resources", "web", VIEWER_FILE).read_text(encoding="utf-8")
    shaders = {kind: raw_source(name) for kind, name in SHADER_FILES.items()}
    (built / VIEWER_FILE).write_text(viewer_source, encoding="utf-8")
    (built / "shaders").mkdir()
    for kind, name in SHADER_FILES.items():
        (built / "shaders" / name).write_text(shaders[kind], encoding="utf-8")
    inline_users = []
    for e in entries:
        folder = built / "users" / e["folder"]
        props = dict(e["props"])
        for key in ("originalImg", "depthImg", "plateImg", "matteImg"):
            if key in props:
                props[key] = _data_url(folder / props[key])
        inline_users.append({"id": e["id"], "name": e["name"], "props": props})
    (built / "index.html").write_text(standalone_html(viewer_source, shaders, inline_users, title), encoding="utf-8")
    # The portal's React side: an example component over these users, and the package to install it from.
    (built / "react").mkdir()
    (built / "react" / REACT_EXAMPLE).write_text(react_example(entries), encoding="utf-8")
    (built / "react" / TARBALL).write_bytes(tarball())
    manifest = {
        "generator": GENERATOR,
        "viewer": VIEWER_FILE,
        "react": {"example": f"react/{REACT_EXAMPLE}", "package": f"react/{TARBALL}"},
        "shaders": f"shaders/{SHADER_FILES['vertex']}, shaders/{SHADER_FILES['fragment']}",
        "users": [{"id": e["id"], "name": e["name"], "params": f"users/{e['folder']}/params.json"} for e in entries],
    }
    (built / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")

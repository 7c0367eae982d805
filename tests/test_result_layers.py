"""Plate and matte stored with each result (migration 0003), read back by every reader, published beside the map.

Real databases (SQLite file, PostgreSQL), the real job runner, and the official Cloudinary client against the
protocol server in tests/servers.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import inspect, select, update

from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.jobs.generate import GenerateMissingJob
from depthstudio.jobs.publish import ALREADY, PUBLISHED, publish_result
from depthstudio.portal.repository import Portal
from depthstudio.portal.tables import result_blobs
from depthstudio.render.param_layers import write_defaults_layer
from depthstudio.render.plate_matte import derive_layers
from depthstudio.render.reference import prepare_textures
from depthstudio.render.result_plates import depth_levels, layered_textures, stored_layers
from depthstudio.render.web_export import export_web, render_inputs
from depthstudio.storage.cloudinary import CloudinaryStore
from depthstudio.storage.plate_assets import layer_url
from tests.helpers import make_portal, portal_config, set_avatar, write_avatars
from tests.servers.cloudinary_server import CloudinaryServer, running_cloudinary_server


def _generated(db_url: str, tmp_path, n: int = 3) -> tuple[Portal, list[str]]:
    avatars = write_avatars(tmp_path / "avatars", n, size=96)
    make_portal(db_url, avatars)
    portal = Portal.open(portal_config(db_url, tmp_path))
    summary = GenerateMissingJob(portal, SyntheticBackend(), None, portal.config, publish=False).run()
    assert summary.ok
    return portal, avatars


def _image(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def test_the_migration_adds_nullable_layer_columns(db_url, tmp_path):
    make_portal(db_url, [])
    portal = Portal.open(portal_config(db_url, tmp_path))
    columns = {c["name"]: c for c in inspect(portal.engine).get_columns("depthstudio_result_blobs")}
    assert columns["plate_png"]["nullable"] and columns["matte_png"]["nullable"]


def test_the_runner_stores_the_plate_and_matte_the_readers_would_derive(db_url, tmp_path):
    portal, _ = _generated(db_url, tmp_path)
    row = portal.get_user("u00001")
    assert row is not None and row.result_id is not None
    layers = stored_layers(portal, row.result_id)
    assert layers is not None
    depth = depth_levels(portal.result_png(row.result_id) or b"")
    plate, matte = _image(layers["plate"]), _image(layers["matte"])
    assert matte.shape == depth.shape and plate.shape[:2] == (64, 64)  # the crop the map was made for
    write_defaults_layer(portal, {"layered": True}, by="test")  # layers are read only where they are drawn
    inputs = render_inputs(portal, row.id)
    assert inputs.layers == layers  # the exporter (render USER) gets the stored ones
    # Deriving at load from the exporter's photo (the full-size crop, not the 64 px one the map was made from)
    # gives the same silhouette and nearly the same edge: the fallback for older results looks the same.
    textures = prepare_textures(inputs.photo, np.asarray(inputs.depth))
    want_plate, want_matte = derive_layers(textures.photo, textures.depth)
    assert np.array_equal(matte > 0, want_matte > 0)
    assert np.abs(matte.astype(int) - want_matte.astype(int)).mean() < 2.0
    assert want_plate.shape[:2] == inputs.photo.size[::-1]


def test_a_stored_plate_is_what_is_drawn_and_an_older_result_derives_one(db_url, tmp_path):
    portal, _ = _generated(db_url, tmp_path, 1)
    row = portal.get_user("u00000")
    assert row is not None and row.result_id is not None
    assert render_inputs(portal, row.id).layers is None  # the default (single-layer) look reads no layers
    write_defaults_layer(portal, {"layered": True}, by="test")
    inputs = render_inputs(portal, row.id)
    assert inputs.layers is not None
    marked = dict(inputs.layers)
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (0, 255, 0)).save(buf, format="PNG")
    marked["plate"] = buf.getvalue()
    drawn = layered_textures(inputs.photo, inputs.depth, marked)
    assert drawn.plate is not None and (drawn.plate[..., :3] == (0, 255, 0)).all()
    with portal.engine.begin() as conn:  # a result made before 0003: no layers stored
        conn.execute(update(result_blobs).values(plate_png=None, matte_png=None))
    assert stored_layers(portal, row.result_id) is None
    assert render_inputs(portal, row.id).layers is None
    derived = layered_textures(inputs.photo, inputs.depth, None)
    assert derived.matte is not None and np.array_equal(derived.matte > 0, _image(inputs.layers["matte"]) > 0)
    assert derived.plate is not None and not (derived.plate[..., :3] == (0, 255, 0)).all()


def test_export_web_writes_the_stored_layers_beside_the_map(db_url, tmp_path):
    portal, _ = _generated(db_url, tmp_path, 2)
    out = tmp_path / "web"
    export_web(portal, ["u00000"], out)
    manifest = json.loads((out / "users.json").read_text())
    folder = (out / manifest["users"][0]["params"]).parent
    props = json.loads((folder / "params.json").read_text())
    row = portal.get_user("u00000")
    assert row is not None and row.result_id is not None
    layers = stored_layers(portal, row.result_id) or {}
    assert (props["plateImg"], props["matteImg"]) == ("plate.png", "matte.png")
    assert (folder / "plate.png").read_bytes() == layers["plate"]
    assert (folder / "matte.png").read_bytes() == layers["matte"]
    assert "data:image/png;base64," in (out / "index.html").read_text()


@pytest.fixture
def cloudinary() -> Iterator[CloudinaryServer]:
    with running_cloudinary_server() as srv:
        yield srv


def test_a_published_layered_avatar_has_its_plate_and_matte_in_cloudinary(db_url, tmp_path, cloudinary):
    portal, avatars = _generated(db_url, tmp_path, 2)
    store = CloudinaryStore(cloudinary.cloudinary_url, upload_prefix=cloudinary.upload_prefix)
    row = portal.get_user("u00000")
    assert row is not None and row.result_id is not None
    first = publish_result(portal, store, row.result_id, require_approval=False)
    assert first.outcome == PUBLISHED and first.url
    layers = stored_layers(portal, row.result_id) or {}
    (depth_id,) = [k for k in cloudinary.assets if not k.endswith(("-plate", "-matte"))]
    assert set(cloudinary.assets) == {depth_id, f"{depth_id}-plate", f"{depth_id}-matte"}
    assert cloudinary.assets[f"{depth_id}-plate"].data == layers["plate"]
    assert cloudinary.assets[f"{depth_id}-matte"].data == layers["matte"]
    # The viewer finds them from the URL the portal stores (the version segment dropped, as layerUrl does).
    unversioned = layer_url(first.url.replace(f"/v{cloudinary.assets[depth_id].version}/", "/"), "plate")
    assert unversioned.endswith(f"{depth_id}-plate.png")

    again = publish_result(portal, store, row.result_id, require_approval=False)
    assert again.outcome == ALREADY and len(cloudinary.assets) == 3  # idempotent

    # A new photo, a new map: publishing it with delete_superseded removes the old map and its layers.
    set_avatar(portal.config.portal.url, "u00000", avatars[1])
    assert GenerateMissingJob(portal, SyntheticBackend(), None, portal.config, publish=False).run().ok
    newer = portal.get_user("u00000")
    assert newer is not None and newer.result_id not in (None, row.result_id)
    assert publish_result(portal, store, newer.result_id, delete_superseded=True, require_approval=False).outcome == (
        PUBLISHED
    )
    assert depth_id not in cloudinary.assets
    assert not any(k.startswith(depth_id) for k in cloudinary.assets)
    assert len(cloudinary.assets) == 3


def test_the_stored_layers_sit_in_the_blob_row_not_the_result_row(db_url, tmp_path):
    portal, _ = _generated(db_url, tmp_path, 1)
    with portal.engine.connect() as conn:
        row = conn.execute(select(result_blobs.c.plate_png, result_blobs.c.matte_png)).one()
    assert row.plate_png.startswith(b"\x89PNG") and row.matte_png.startswith(b"\x89PNG")


def test_a_map_its_layers_cannot_be_made_from_is_kept_without_them(monkeypatch):
    import cv2

    from depthstudio.depth.postprocess import encode_png
    from depthstudio.portal.results import NewResult
    from depthstudio.render import result_plates

    photo = Image.new("RGB", (32, 32), (10, 20, 30))
    flat = NewResult("a", "0" * 64, "b", "m", 32, 32, encode_png(np.zeros((32, 32)), 8))
    result_plates.attach_layers(flat, photo)  # an all-black map (QA flags it) still gets its layers
    assert flat.plate_png is not None and flat.matte_png is not None

    def broken(*_args: object) -> dict[str, bytes]:
        raise cv2.error("inpainting failed")

    monkeypatch.setattr(result_plates, "layer_pngs", broken)
    kept = NewResult("a", "0" * 64, "b", "m", 32, 32, flat.png8)
    result_plates.attach_layers(kept, photo)  # logs, never raises: the map is recorded without layers
    assert kept.plate_png is None and kept.matte_png is None and kept.png8 == flat.png8

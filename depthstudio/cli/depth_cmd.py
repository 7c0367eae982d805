"""``depthstudio depth PHOTO -o depth.png``: one photo through one backend, for designers and for debugging.

It runs the same steps as a job (load and crop the avatar, predict, postprocess, QA) and prints the QA
flags, so a surprising map can be reproduced outside the queue with other backends or postprocessing
options.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from pathlib import Path

import click

from depthstudio.cli import AppContext, fail, pass_app
from depthstudio.depth.factory import BACKENDS
from depthstudio.errors import DepthstudioError


def _write_atomically(path: Path, data: bytes) -> None:
    """A crash or a full disk never leaves a truncated PNG where a good one was expected."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@click.command("depth")
@click.argument("photo")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the 8-bit depth PNG (white = near).",
)
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    help="Depth backend; default: depth.backend from the configuration.",
)
@click.option("--model", help="Model for the chosen backend (a Hugging Face id for local, owner/name for replicate).")
@click.option(
    "--weights-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Local backend: a folder with the model's config.json and safetensors (e.g. from "
    "`huggingface-cli download` or `save_pretrained`).",
)
@click.option("--device", help="Local backend: auto, cpu, cuda, cuda:N or mps.")
@click.option(
    "--dtype",
    type=click.Choice(["auto", "float32", "bfloat16", "float16"]),
    help="Local backend: compute precision.",
)
@click.option(
    "--16bit",
    "output16",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the 16-bit PNG kept for re-processing.",
)
@click.option(
    "--postprocess",
    "postprocess",
    multiple=True,
    metavar="NAME=VALUE",
    help="Portrait postprocessing, repeatable: percentile=2, dilate_px=3, smooth_radius=8, "
    "smooth_eps=0.001, invert=true.",
)
@pass_app
def depth_command(
    app: AppContext,
    photo: str,
    output: Path,
    backend: str | None,
    model: str | None,
    weights_dir: Path | None,
    device: str | None,
    dtype: str | None,
    output16: Path | None,
    postprocess: tuple[str, ...],
) -> None:
    """Make a depth map for PHOTO (a file or an URL) and print its quality flags."""
    from depthstudio.depth.factory import explain, make_backend
    from depthstudio.depth.postprocess import PostprocessOptions, make_depth_map
    from depthstudio.imaging import load_avatar

    try:
        cfg = app.config
        name = backend or cfg.depth.backend
        changes: dict[str, object] = {"backend": name}
        if model:
            changes["local_model" if name == "local" else "replicate_model"] = model
        if weights_dir:
            changes["local_weights_dir"] = changes["local_weights"] = str(weights_dir)
        if device:
            changes["device"] = device
        if dtype:
            changes["dtype"] = dtype
        cfg = dataclasses.replace(cfg, depth=dataclasses.replace(cfg.depth, **changes))  # type: ignore[arg-type]
        options = PostprocessOptions.parse(postprocess, base=cfg.depth.postprocess)
        # the photo is the operator's own argument, not a portal user's value: a local file is fine here
        avatar = load_avatar(photo, dataclasses.replace(cfg.fetch.policy(), allow_local_paths=True))
        engine = make_backend(cfg)
        why = explain(engine)
        if why:
            click.echo(why, err=True)
        try:
            started = time.perf_counter()
            prediction = engine.predict(avatar)
            elapsed = time.perf_counter() - started
        finally:
            engine.close()
        result = make_depth_map(prediction, avatar, options)
        _write_atomically(output, result.png8)
        if output16 is not None:
            _write_atomically(output16, result.png16)
    except DepthstudioError as err:
        fail(err)
        return
    side = result.depth.shape[0]
    click.echo(f"{output}: {side}x{side}, {prediction.backend}/{prediction.model} in {elapsed:.2f} s")
    if output16 is not None:
        click.echo(f"{output16}: 16-bit")
    qa = result.qa
    checks = ", ".join(f"{n} {c['score']:.2f}" for n, c in qa["checks"].items())
    if qa["flags"]:
        click.secho(f"QA risk {qa['risk']:.2f}: FLAGGED {', '.join(qa['flags'])} ({checks})", fg="yellow")
    else:
        click.echo(f"QA risk {qa['risk']:.2f}: no flags ({checks})")


def register(main: click.Group) -> None:
    main.add_command(depth_command)

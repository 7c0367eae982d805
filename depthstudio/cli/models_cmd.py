"""``depthstudio models list`` / ``fetch NAME`` / ``doctor``: prepare a machine's local depth model ahead of time,
and see what it runs on."""

from __future__ import annotations

import click

from depthstudio.cli import AppContext, fail, pass_app
from depthstudio.errors import DepthstudioError


@click.group("models")
def models_cmd() -> None:
    """The local depth models: which are known, which are here, and fetching one."""


@models_cmd.command("list")
def list_cmd() -> None:
    """Each pinned model with its file, size, licence and whether it is in the Hugging Face cache."""
    from depthstudio.depth import models

    for entry in [*models.MODELS.values(), *models.FP16.values(), *models.INT8.values()]:
        here = models.cached(entry)
        state = f"cached at {here}" if here else "not downloaded"
        click.echo(
            f"{entry.name}  {entry.filename}  {entry.size / 1e6:.1f} MB  {entry.licence}  "
            f"rev {entry.revision[:12]}  {state}"
        )


@models_cmd.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="one JSON object instead of aligned lines")
@pass_app
def doctor_cmd(app: AppContext, as_json: bool) -> None:
    """Runtime, providers, device, precision and model file the local backend uses here, and what to install for
    a GPU that sits idle. Opens a session when the model file is here (no download)."""
    import json

    from depthstudio.depth.doctor import diagnose

    report = diagnose(app.config.depth)
    if as_json:
        click.echo(json.dumps(report))
        return
    width = max(len(k) for k in report)
    for key, value in report.items():
        click.echo(f"{key:<{width}}  {value}")


@models_cmd.command("fetch")
@click.argument("name")
@click.option("--fp16", is_flag=True, help="the half-precision file, which CUDA and TensorRT run")
@click.option("--int8", is_flag=True, help="the 8-bit file, for the CPU with depth.dtype=int8")
@pass_app
def fetch_cmd(app: AppContext, name: str, fp16: bool, int8: bool) -> None:
    """Download NAME once into the Hugging Face cache (resumable), and check its size and sha256.

    For the configured model (depth.local_model) a mirror's own pin (depth.model_revision/sha256/size) applies."""
    from depthstudio.cli.download import DownloadReporter
    from depthstudio.depth import models

    reporter = DownloadReporter()
    try:
        depth = app.config.depth
        entry = models.from_config(depth) if name == depth.local_model else models.model_file(name)
        variant = models.FP16.get(name, entry) if fp16 else models.INT8.get(name, entry) if int8 else entry
        path = models.fetch(variant, progress=reporter)
    except DepthstudioError as err:
        reporter.close()
        fail(err)
    reporter.close()
    click.echo(f"{name}: {path}")


def register(main: click.Group) -> None:
    main.add_command(models_cmd)

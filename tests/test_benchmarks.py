"""Every benchmark still runs: its ``--smoke`` size, here, on every CI run (issue 28: benchmarks/workers.py had
failed for weeks, since layered publishing, because nothing ran it).

A smoke passes when the script exits 0 and its last line is one JSON object or list (the figures); each script
asserts what its run must have done (every user published, no failed prediction, ...), so a broken benchmark
fails here. The figures themselves are not judged: on a shared CI machine they mean nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_URL

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "benchmarks"

# One smoke per command a user runs; bulk_local.py is ``bulk_job.py --backend local``, runtimes.py is
# local_depth.py's comparison. "{onnx}" is the tests' seeded export of the reduced model (saves a ~20 s export).
SMOKES: dict[str, list[str]] = {
    "bulk_job": ["bulk_job.py", "--smoke"],
    "bulk_local": ["bulk_job.py", "--smoke", "--backend", "local", "--onnx", "{onnx}"],
    "change_feed": ["change_feed.py", "--smoke", "--pg", PG_ADMIN_URL],
    # The reduced models on the CPU; the budget skips the timed configurations past 10 s: the plumbing is checked.
    "gpu_check": ["gpu_check.py", "--smoke", "--budget-s", "10"],
    "layers": ["layers.py", "--smoke"],
    "local_depth": ["local_depth.py", "--smoke", "--onnx", "{onnx}"],
    "render": ["render.py", "--smoke"],
    "replicate_bulk": ["replicate_bulk.py", "--smoke"],
    "revalidate": ["revalidate.py", "--smoke"],
    "ui": ["ui.py", "--smoke"],
    "web_page": ["web_page.py", "--smoke"],  # Chromium and the tests' npm cache (tests/node_web)
    "workers": ["workers.py", "--smoke"],
}


def test_every_benchmark_script_has_a_smoke_here():
    scripts = {p.name for p in BENCHMARKS.glob("*.py") if 'if __name__ == "__main__"' in p.read_text()}
    smoked = {argv[0] for argv in SMOKES.values()}
    assert scripts == smoked, f"benchmarks without a smoke run in tests/test_benchmarks.py: {scripts - smoked}"
    for script in scripts:
        assert re.search(r"add_argument\(\s*\"--smoke\"", (BENCHMARKS / script).read_text()), script
    modules = {p.name for p in BENCHMARKS.glob("*.py")} - scripts - {"__init__.py"}
    assert modules == {"bulk_local.py", "runtimes.py"}  # each run through a script above


@pytest.mark.parametrize("name", sorted(SMOKES))
def test_the_benchmarks_smoke_size_runs_and_prints_its_figures(name, request, tmp_path):
    argv = SMOKES[name]
    if "{onnx}" in argv:
        argv = [a.replace("{onnx}", str(request.getfixturevalue("tiny_onnx").path)) for a in argv]
    env = {**os.environ, "BENCH_PG": PG_ADMIN_URL, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    env.pop("BENCH_DB", None)  # bulk_job's smoke is the SQLite one
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / argv[0]), *argv[1:]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (
        f"{name} --smoke failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-6000:]}"
    )
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-3000:]
    figures = json.loads(lines[-1])
    assert isinstance(figures, dict | list) and figures
    if name == "local_depth":  # the same seeded weights through both runtimes: the same maps
        assert {r["runtime"] for r in figures} == {"torch", "onnxruntime"}
        assert max(r["max_abs_diff"] for r in figures) < 1e-3

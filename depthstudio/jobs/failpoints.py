"""Named crash points for the kill -9 tests: ``DEPTHSTUDIO_FAILPOINT=after_predict@3`` SIGKILLs the process the
third time that point is reached. Unset (always, outside those tests) it costs one comparison.

A real ``kill -9`` at a chosen step is the only honest way to prove that every step of a job can die and be
redone without a duplicate asset or a stale write.

Why it ships in the package rather than under tests/: the points sit in production code (``jobs/runner.py``,
``jobs/publish.py``), and the tests that fire them run the installed ``depthstudio`` CLI and workers as real
subprocesses (``tests/test_cli.py``, ``tests/test_workers.py``), which import only the package.
"""

from __future__ import annotations

import os
import signal
import threading

_lock = threading.Lock()
_hits: dict[str, int] = {}


def _target(spec: str | None) -> tuple[str, int] | None:
    if not spec:
        return None
    name, _, nth = spec.partition("@")
    return name, int(nth or 1)


# Read once: the kill tests set it in the environment of the subprocess they start. (Reading os.environ at each
# point was ~2 % of the bulk runner's GIL time: several points per user.)
_TARGET = _target(os.environ.get("DEPTHSTUDIO_FAILPOINT"))


def failpoint(name: str) -> None:
    target = _TARGET
    if target is None or target[0] != name:
        return
    with _lock:
        _hits[name] = _hits.get(name, 0) + 1
        if _hits[name] == target[1]:
            os.kill(os.getpid(), signal.SIGKILL)

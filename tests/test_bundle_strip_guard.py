"""The bundle build's strip guard (scripts/build_bundle.py), on any ELF file: it runs without building the bundle."""

from __future__ import annotations

import os
import shutil
import struct
import sys
from pathlib import Path

import pytest

from scripts.build_bundle import loads_aligned

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF: the Linux bundle's libraries")


def test_the_strip_guard_refuses_a_library_whose_segment_would_not_load(tmp_path):
    """What the guard catches (strip on a patchelf'd library): a PT_LOAD segment whose file offset no longer matches
    its address modulo the page size; the loader refuses it ("ELF load command address/offset not page-aligned")."""
    original = Path(os.path.realpath(sys.executable))  # any 64-bit ELF file with PT_LOAD segments
    assert loads_aligned(original)
    broken = tmp_path / original.name
    shutil.copyfile(original, broken)
    data = bytearray(broken.read_bytes())
    (phoff,) = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for i in range(phnum):
        at = phoff + i * phentsize
        if struct.unpack_from("<I", data, at)[0] == 1:  # the first PT_LOAD: shift its file offset by 16 bytes
            struct.pack_into("<Q", data, at + 8, struct.unpack_from("<Q", data, at + 8)[0] + 16)
            break
    broken.write_bytes(bytes(data))
    assert not loads_aligned(broken)

"""The launcher: a valid freedesktop entry and icon under $XDG_DATA_HOME, and the window carries the icon."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from depthstudio.desktop import desktop_entry, install, uninstall


def _validate(path) -> subprocess.CompletedProcess[str]:
    if shutil.which("desktop-file-validate") is None:
        if os.environ.get("CI"):
            pytest.fail("desktop-file-validate is missing (Debian: apt-get install desktop-file-utils)")
        pytest.skip("desktop-file-validate is not installed")
    return subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)


def test_desktop_entry_install_writes_a_valid_entry_and_the_icon_under_xdg_data_home(tmp_path):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "share")}
    out = subprocess.run(
        [sys.executable, "-m", "depthstudio", "desktop-entry", "install"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    entry = tmp_path / "share" / "applications" / "depthstudio.desktop"
    icon = tmp_path / "share" / "icons" / "hicolor" / "scalable" / "apps" / "depthstudio.svg"
    assert icon.read_text().startswith("<svg")
    checked = _validate(entry)
    assert checked.returncode == 0 and checked.stdout == "", checked.stdout + checked.stderr
    assert f"Exec={sys.executable} -m depthstudio studio" in entry.read_text()
    assert uninstall(tmp_path / "share") == [entry, icon] and not entry.exists()


def test_an_interpreter_path_with_spaces_and_percent_is_quoted_as_the_spec_says(tmp_path):
    entry = tmp_path / "x.desktop"
    entry.write_text(desktop_entry(["/opt/My Apps/100% py/python", "-m", "depthstudio", "studio"]))
    assert 'Exec="/opt/My Apps/100%% py/python" -m depthstudio studio' in entry.read_text()
    checked = _validate(entry)
    assert checked.returncode == 0 and checked.stdout == "", checked.stdout


def test_install_is_idempotent(tmp_path):
    first = install(tmp_path)
    assert install(tmp_path) == first and first[0].read_text().count("[Desktop Entry]") == 1


def test_the_studio_window_has_the_application_icon(qtbot):
    from depthstudio.ui.app import application

    icon = application().windowIcon()
    assert not icon.isNull() and not icon.pixmap(64, 64).toImage().isNull()

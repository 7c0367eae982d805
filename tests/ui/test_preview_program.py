"""The preview's three views (shader, compare, depth) draw with one program compiled once."""

from __future__ import annotations

from OpenGL import GL

from tests.ui.conftest import require_gl


def test_the_preview_compiles_its_program_once_and_frees_it(qtbot, make_window, seeded):
    window = make_window()
    require_gl(window)
    preview = window.preview
    programs = {preview._renderer.program, preview._compare.program, preview._depth_view.program}
    assert len(programs) == 1
    (program,) = programs
    preview.makeCurrent()
    assert GL.glIsProgram(program)
    preview.doneCurrent()
    preview.release_gl()  # the sharing renderers do not delete it a second time: no GL error on release
    assert preview._renderer is None and preview.gl_error is None

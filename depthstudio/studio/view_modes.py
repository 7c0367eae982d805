"""The preview's views as a registry: each says what it draws where, what it needs and what it says over itself.

The preview paints any of them with one loop over ``panes``; the window builds its view buttons and menu entries
from ``VIEW_MODES``. A new view is one entry here, not a branch in each of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from depthstudio.studio.preview_loading import PreviewContent


@dataclass(frozen=True)
class Draw:
    """One draw into a pane: with the published web shader's parameters (``original``) or the current ones,
    clipped to the horizontal share ``clip`` of the widget (None: the whole pane)."""

    original: bool = False
    clip: tuple[float, float] | None = None


@dataclass(frozen=True)
class Pane:
    """A horizontal share of the widget (``left``..``right``) drawn from one texture set."""

    textures: str  # "photo" (the shader's photo and map), "depth" (the map as a photo), "compare" (the other map)
    left: float = 0.0
    right: float = 1.0
    draws: tuple[Draw, ...] = (Draw(),)
    moves: bool = True  # follows the pointer (the depth map itself is shown unmoved)


@dataclass(frozen=True)
class ViewMode:
    key: str
    label: str
    tip: str
    panes: tuple[Pane, ...]
    captions: Callable[[PreviewContent], tuple[tuple[float, str], ...]]  # (left edge as a share, text)
    needs_compare: bool = False  # a second result of the same photo

    @property
    def moves(self) -> bool:
        return any(p.moves for p in self.panes)

    def unavailable(self, content: PreviewContent | None) -> str | None:
        """Why this view cannot show ``content`` (the preview then shows the 3D view), or None."""
        if not self.needs_compare:
            return None
        if content is None:
            return "Compare needs a photo: this user has none to show"
        if content.depth is None:
            return "Compare needs a depth map: this user has none yet (G generates one)"
        if content.compare_depth is None:
            return "Compare needs two depth results of the same photo: this user has one (G makes another)"
        return None


SHADER = ViewMode(
    "shader",
    "3D",
    "The avatar as the web shows it",
    (Pane("photo"),),
    lambda content: ((0.0, content.caption),) if content.caption else (),
)
VIEW_MODES: dict[str, ViewMode] = {
    mode.key: mode
    for mode in (
        SHADER,
        ViewMode(
            "depth",
            "Depth map",
            "The depth map itself (white = near)",
            (Pane("depth", moves=False),),
            lambda _content: ((0.0, "depth map (white = near)"),),
        ),
        ViewMode(
            "split",
            "Split",
            "Left: the published shader (plane 0.5); right: these parameters",
            (Pane("photo", draws=(Draw(original=True, clip=(0.0, 0.5)), Draw(clip=(0.5, 1.0)))),),
            lambda _content: ((0.0, "original web shader (plane 0.5)"), (0.5, "fixed")),
        ),
        ViewMode(
            "compare",
            "Compare",
            "This depth result beside the user's previous one",
            (Pane("photo", 0.0, 0.5), Pane("compare", 0.5, 1.0)),
            lambda content: ((0.0, content.label), (0.5, content.compare_label)),
            needs_compare=True,
        ),
    )
}


def shown_mode(key: str, content: PreviewContent | None) -> ViewMode:
    """The view that can be shown: a user without a depth map (or without a second result) gets the 3D view,
    which draws the plain photo."""
    mode = VIEW_MODES[key]
    if content is None or content.depth is None or mode.unavailable(content) is not None:
        return SHADER
    return mode

"""Problems as the studio shows them: a sentence for a person, whom it is about, and what Retry does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from depthstudio.errors import DepthstudioError


def describe(exc: BaseException) -> str:
    """The sentence a person sees: ours are already written for people; anything else is a bug, say so."""
    if isinstance(exc, DepthstudioError):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc} (details in the log)"


@dataclass(frozen=True)
class Problem:
    text: str
    about: str | None = None  # the user's id: the same problem of the same user is logged once
    retry: Callable[[], None] | None = None

"""Which depth map a user shows: one answer for the studio's preview and the web export (Qt-free)."""

from __future__ import annotations

from dataclasses import dataclass

from depthstudio.portal.repository import UserRow
from depthstudio.portal.reviews import Decision


@dataclass(frozen=True)
class ShownMap:
    """Where to read the map, in order: our result (``result_id``), else the portal's own map (``portal_url``).

    Both None: the plain photo (no map, or none that fits the photo the user has now).
    """

    result_id: int | None
    portal_url: str | None


def shown_map(row: UserRow, *, reviewing: bool = False) -> ShownMap:
    """The current result, when it was made from the photo the user has now and is not rejected; else the map
    the portal holds (one published earlier, or made elsewhere).

    ``reviewing`` is the studio's view: a rejected result is still shown there, so the editor sees what was
    judged and can judge it again; the web never shows it.
    """
    current = row.result_id is not None and bool(row.avatar) and row.result_avatar == row.avatar
    if current and (reviewing or row.decision != Decision.REJECTED):
        return ShownMap(row.result_id, row.depth_url)
    return ShownMap(None, row.depth_url)

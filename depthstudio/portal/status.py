"""The statuses a user can be in, and everything each one means on screen: one table, Qt-free.

The CLI's ``--status`` choices, the studio's badge labels and colours, its filter chips and the "needs
attention" sort all read this table, so a new status is one row here (plus its case in the listing SQL).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class StatusInfo:
    label: str  # the badge text in the studio
    color: str  # the badge colour, ``#rrggbb``
    filter: str  # the key of the studio's filter chip that lists it
    attention: int  # rank under the "needs attention" sort: lower comes first


class Status(StrEnum):
    """A user's depth status, in the order the CLI lists the counts."""

    MISSING = "missing"
    QUEUED = "queued"
    GENERATING = "generating"
    GENERATED = "generated"
    APPROVED = "approved"
    REJECTED = "rejected"
    PUBLISHED = "published"
    STALE = "stale"
    FAILED = "failed"
    NO_PHOTO = "no_photo"

    @property
    def info(self) -> StatusInfo:
        return _INFO[self]

    @property
    def label(self) -> str:
        return _INFO[self].label

    @property
    def color(self) -> str:
        return _INFO[self].color


LAST_ATTENTION = 3  # everything that needs no one's attention, after failures, stale maps and maps awaiting review

_INFO: dict[Status, StatusInfo] = {
    Status.MISSING: StatusInfo("missing", "#8a8f98", "missing", LAST_ATTENTION),
    Status.QUEUED: StatusInfo("queued", "#5b8def", "in_progress", LAST_ATTENTION),
    Status.GENERATING: StatusInfo("generating", "#5b8def", "in_progress", LAST_ATTENTION),
    Status.GENERATED: StatusInfo("awaiting review", "#e0a030", "generated", 2),
    Status.APPROVED: StatusInfo("approved", "#3fae5a", "approved", LAST_ATTENTION),
    Status.REJECTED: StatusInfo("rejected", "#d9534f", "rejected", LAST_ATTENTION),
    Status.PUBLISHED: StatusInfo("published", "#2e8b9a", "published", LAST_ATTENTION),
    Status.STALE: StatusInfo("stale (new photo)", "#b07cc6", "stale", 1),
    Status.FAILED: StatusInfo("failed", "#d9534f", "failed", 0),
    Status.NO_PHOTO: StatusInfo("no photo", "#b0b4ba", "no_photo", LAST_ATTENTION),
}

STATUSES: tuple[str, ...] = tuple(s.value for s in Status)
NEEDS_DEPTH: tuple[str, ...] = (Status.MISSING.value, Status.STALE.value)
UNKNOWN_COLOR = "#888888"  # a status this build does not know (a newer writer's): drawn grey, labelled as stored


def status_label(status: str) -> str:
    """The badge text for a stored status; an unknown one shows as it is stored."""
    return Status(status).label if status in STATUSES else status


def status_color(status: str) -> str:
    return Status(status).color if status in STATUSES else UNKNOWN_COLOR


@dataclass(frozen=True)
class Filter:
    """One chip of the studio's filter bar: the statuses it lists, or the QA-flagged ones."""

    key: str
    label: str
    statuses: tuple[str, ...] = ()
    flagged: bool = False


# The chips in the order the bar shows them (keys 1-9 jump to the first nine); "all" and "flagged" list no
# status of their own, every other chip the statuses whose ``filter`` names it, so the chips add up to All.
_CHIPS = (
    ("all", "All"),
    ("missing", "Missing"),
    ("generated", "Awaiting review"),
    ("approved", "Approved"),
    ("rejected", "Rejected"),
    ("published", "Published"),
    ("stale", "Stale"),
    ("failed", "Failed"),
    ("flagged", "QA-flagged"),
    ("in_progress", "In progress"),
    ("no_photo", "No photo"),
)

FILTERS: tuple[Filter, ...] = tuple(
    Filter(key, label, tuple(s.value for s in Status if s.info.filter == key), flagged=key == "flagged")
    for key, label in _CHIPS
)

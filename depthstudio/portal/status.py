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


# "Needs attention" ranks: failures, rejections (regenerate), new photos, then QA-flagged maps of any status (a
# rank of the listing, not a status), then maps awaiting review, then everything that needs no one's attention.
FLAGGED_ATTENTION = 3
LAST_ATTENTION = 5

_INFO: dict[Status, StatusInfo] = {
    Status.MISSING: StatusInfo("missing", "#8a8f98", "missing", LAST_ATTENTION),
    Status.QUEUED: StatusInfo("queued", "#5b8def", "in_progress", LAST_ATTENTION),
    Status.GENERATING: StatusInfo("generating", "#5b8def", "in_progress", LAST_ATTENTION),
    Status.GENERATED: StatusInfo("awaiting review", "#e0a030", "generated", 4),
    Status.APPROVED: StatusInfo("approved", "#3fae5a", "approved", LAST_ATTENTION),
    Status.REJECTED: StatusInfo("rejected", "#d9534f", "rejected", 1),
    Status.PUBLISHED: StatusInfo("published", "#2e8b9a", "published", LAST_ATTENTION),
    Status.STALE: StatusInfo("stale (new photo)", "#b07cc6", "stale", 2),
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


def _word(text: str) -> str:
    return "_".join(text.lower().replace("-", " ").replace("_", " ").replace("(", " ").replace(")", " ").split())


def _status_words() -> dict[str, tuple[str, ...]]:
    """Every word that names statuses: the stored ones, the studio's badge labels and chip names, and a label's
    first word where only one status starts with it and it is a word of its own ("awaiting", "stale")."""
    words: dict[str, tuple[str, ...]] = {}
    for f in FILTERS:
        if f.statuses:
            words[_word(f.label)] = words[_word(f.key)] = f.statuses
    for st in Status:
        words[_word(st.label)] = (st.value,)
    firsts: dict[str, list[str]] = {}
    for st in Status:
        firsts.setdefault(_word(st.label).split("_")[0], []).append(st.value)
    for first, sts in firsts.items():
        if len(sts) == 1 and len(first) >= 5:
            words.setdefault(first, tuple(sts))
    for st in Status:
        words[st.value] = (st.value,)
    return words


STATUS_WORDS: dict[str, tuple[str, ...]] = _status_words()


def parse_status(word: str) -> tuple[str, ...]:
    """The statuses a word names, in the CLI's or the studio's vocabulary ("generated", "awaiting review",
    "awaiting", "in progress"); ``ValueError`` names the accepted words."""
    found = STATUS_WORDS.get(_word(word))
    if found is None:
        raise ValueError(f"unknown status {word!r}; known: {', '.join(sorted(STATUS_WORDS))}")
    return found

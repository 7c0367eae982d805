"""What the studio says about a user: the line under the name, and the review history's entries."""

from __future__ import annotations

from typing import Any

from depthstudio.jobs.failures import explain
from depthstudio.portal.repository import UserRow
from depthstudio.portal.reviews import Decision
from depthstudio.portal.status import status_label
from depthstudio.studio.sources import depth_source

# "cleared" is what an undo (or `review --clear`) records: said so, since it reads as nothing having happened.
HISTORY_WORDS = {Decision.CLEARED: "decision cleared (back to awaiting review)"}


def history_lines(history: list[dict[str, Any]]) -> list[str]:
    """The review history, newest first as stored, one line per decision (who, when, the note)."""
    lines = []
    for entry in history:
        when = entry["created_at"].strftime("%Y-%m-%d %H:%M") if entry.get("created_at") else ""
        note = f" — “{entry['note']}”" if entry.get("note") else ""
        what = HISTORY_WORDS.get(entry["decision"], entry["decision"])
        lines.append(f"{when}  {what} by {entry['reviewer']}{note}")
    return lines or ["no decisions yet"]


def describe_row(row: UserRow) -> str:
    """The status, where the map came from, its QA risk, the decision and, for failures, what to do."""
    parts = [status_label(row.status)]
    if row.backend:
        parts.append(depth_source(row.backend, row.model))
    if row.result_id is not None:
        parts.append(f"QA risk {row.qa_risk:.2f}")
    if row.decision:
        when = row.reviewed_at.strftime("%Y-%m-%d %H:%M") if row.reviewed_at else ""
        parts.append(f"{row.decision} by {row.reviewer} {when}".strip() + (f" — “{row.note}”" if row.note else ""))
    if row.status == "failed":
        how = explain(row.error_kind)  # the attempts are counted in the failures view (F), over every run
        parts.append(f"{how.phrase}: {row.error} — {'temporary: retry' if how.transient else how.todo}")
    if row.status == "stale":
        parts.append("the photo changed after the depth map was made: the web shows the plain photo")
    return " · ".join(parts)

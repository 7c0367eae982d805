"""The studio's state and rules, with no Qt: the window shows it and forwards the editor's input to it.

The list's rows and its selection stay in Qt's item model and selection model (the views need them there); the
model reads them through ``Rows``. Work runs through the ``Submit`` callables the window hands in (its worker
pools, whose callbacks come back on the GUI thread); a load or a count that returns after a newer one was asked
for is dropped (generation counters).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from depthstudio.config import Config
from depthstudio.portal.repository import Portal, Query, UserRow, current_reviewer
from depthstudio.portal.reviews import Decision as ReviewDecision
from depthstudio.portal.status import FILTERS, Filter
from depthstudio.studio.events import Event
from depthstudio.studio.preview_loading import LoadedPreview, PreviewCache, load_preview, row_key
from depthstudio.studio.problems import Problem, describe

Defer = Callable[[Callable[[], None]], None]  # starts the given callable later (e.g. after a paint)

SORT_LABELS = {"name": "Name", "recent": "Most recent", "attention": "Needs attention", "risk": "QA risk"}
PREFETCH_STEPS = (1, -1, 2)  # the neighbours loaded ahead: J's, K's and the one after J's


class Submit(Protocol):
    """Runs ``fn`` off the caller's thread and calls ``done``/``failed`` back on it."""

    def __call__(
        self,
        fn: Callable[[], Any],
        done: Callable[[Any], None] | None = None,
        failed: Callable[[BaseException], None] | None = None,
        *,
        after: Defer | None = None,
    ) -> None: ...


class Rows(Protocol):
    """The list as loaded so far, and what the editor selected in it."""

    def row_count(self) -> int: ...

    def row_at(self, i: int) -> UserRow: ...

    def position_of(self, user_id: str) -> int:
        """The user's row, or -1 when the list does not hold the user."""
        ...

    def selected_rows(self) -> list[UserRow]:
        """The selected rows in list order."""
        ...


def filter_count(f: Filter, counts: dict[str, int]) -> int:
    """How many users a filter chip matches, from ``Portal.status_counts``."""
    if f.flagged:
        return counts.get("flagged", 0)
    if not f.statuses:
        return counts.get("all", 0)
    return sum(counts.get(s, 0) for s in f.statuses)


def safe_url(url: str) -> str:
    """The portal URL for people to read, without a password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "configured portal"


@dataclass(frozen=True)
class UserShown:
    row: UserRow | None  # None: no user matches the filter
    moved: bool  # another user than before (not the same one re-read)


class ReviewStep:
    """A review decision on some users, undoable: undo restores each user's previous decision (a new, audited
    row). The window's undo stack holds it, beside the parameter edits, so Ctrl+Z undoes both in order."""

    def __init__(self, studio: StudioModel, rows: list[UserRow], decision: str, note: str | None) -> None:
        self.studio = studio
        self.text = f"{decision} {len(rows)} user{'s' if len(rows) != 1 else ''}"
        self.ids = [r.id for r in rows]
        self.decision, self.note = decision, note
        # Only a decision can be restored; an "unpublished" history entry restores as no decision.
        self.before = {
            r.id: (r.decision if r.decision in (ReviewDecision.APPROVED, ReviewDecision.REJECTED) else None, r.note)
            for r in rows
        }
        # The maps the editor saw: a user regenerated meanwhile is skipped rather than judged unseen.
        self.shown = {r.id: r.result_id for r in rows if r.result_id is not None}

    def redo(self) -> None:
        self.studio.record_decisions([(self.ids, self.decision, self.note)], self.shown)

    def undo(self) -> None:
        groups: dict[tuple[str, str | None], list[str]] = {}
        for uid, (decision, note) in self.before.items():
            groups.setdefault((decision or ReviewDecision.CLEARED, note), []).append(uid)
        self.studio.record_decisions([(ids, d, n) for (d, n), ids in groups.items()], self.shown)


class StudioModel:
    def __init__(
        self, portal: Portal, config: Config, rows: Rows, tasks: Submit, writes: Submit, *, sort: str = "name"
    ) -> None:
        self.portal, self.config, self.rows = portal, config, rows
        self.tasks, self.writes = tasks, writes  # reads on a pool; writes on one thread, first asked first committed
        self.reviewer = current_reviewer(config)
        self.filter = FILTERS[0]
        self.search = ""
        self.sort = sort
        self.counts: dict[str, int] = {}
        self.current: UserRow | None = None
        self.preview_generation = 0
        self._reload_generation = 0  # bumped by every reload and selection: only the latest reload may land
        self._counts_generation = 0
        self._opened = False  # the first page has landed once (see landing_row)
        self.previews = PreviewCache()
        self.defer: Defer | None = None  # set while the list paints a first page: reads wait for that paint
        self.prefetch_after: Defer | None = None  # neighbours load once the shown user's frame is painted

        self.query_changed: Event[Query] = Event()
        self.counts_changed: Event[dict[str, int]] = Event()
        self.failures_changed: Event[None] = Event()  # the failed count moved: the failures queue re-reads
        self.user_shown: Event[UserShown] = Event()
        self.preview_loaded: Event[LoadedPreview] = Event()  # for the shown user
        self.preview_failed: Event[BaseException] = Event()
        self.rows_changed: Event[list[str]] = Event()  # these listed users' rows must be re-read
        self.rows_changing: Event[list[str]] = Event()  # a write to these users starts: a page in flight is stale
        self.message: Event[str] = Event()
        self.problem: Event[Problem] = Event()

    # --- query and counts ---------------------------------------------------------------------------------

    def query(self) -> Query:
        return Query(statuses=self.filter.statuses, search=self.search, flagged=self.filter.flagged, sort=self.sort)

    def set_filter(self, key: str) -> None:
        self.filter = next(f for f in FILTERS if f.key == key)
        self.apply_query()

    def set_search(self, text: str) -> None:
        """Typed text: applied by ``apply_query`` (the window debounces it); the counts use it at once."""
        self.search = text.strip()

    def set_sort(self, sort: str) -> None:
        if sort not in SORT_LABELS:
            raise ValueError(f"unknown sort {sort!r}")
        self.sort = sort
        self.apply_query()

    def apply_query(self) -> None:
        self.query_changed.emit(self.query())

    def shown_count(self) -> int:
        """How many users the current filter matches, as its chip says."""
        return filter_count(self.filter, self.counts)

    def refresh_counts(self) -> None:
        self._counts_generation += 1
        generation, query = self._counts_generation, Query(search=self.search)
        self.tasks(
            lambda: self.portal.status_counts(query),
            done=lambda counts: self._counted(generation, counts),
            failed=lambda exc: self.problem.emit(Problem(f"cannot count users: {describe(exc)}")),
            after=self.defer,
        )

    def _counted(self, generation: int, counts: dict[str, int]) -> None:
        if generation != self._counts_generation:
            return
        failures_moved = counts.get("failed", 0) != self.counts.get("failed", 0)
        self.counts = counts
        if failures_moved:
            # After the first page, not before it (a cold start waits for nothing), and whenever failures come
            # from elsewhere (a worker, the CLI): the queue and "Retry failed" follow the database.
            self.failures_changed.emit(None)
        self.counts_changed.emit(counts)

    # --- the list and the selection -----------------------------------------------------------------------

    def landing_row(self) -> int:
        """The row to select when nobody is: on opening, the first user with a depth map, so the first thing seen
        is an avatar moving in 3D (the demo's first names are placeholders without one); afterwards the top."""
        if self._opened:
            return 0
        self._opened = True
        rows = (self.rows.row_at(i) for i in range(self.rows.row_count()))
        return next((i for i, r in enumerate(rows) if r.result_id is not None and r.status != "stale"), 0)

    def selected_rows(self) -> list[UserRow]:
        """The selection, or the shown user when nothing is selected."""
        rows = self.rows.selected_rows()
        if not rows and self.current is not None:
            rows = [self.current]
        return rows

    def selected_ids(self) -> list[str]:
        return [r.id for r in self.selected_rows()]

    def listed(self, user_ids: Iterable[str] | None) -> list[str]:
        """Which of these users the list holds (None: anything may have changed, so every listed user)."""
        if user_ids is None:
            return [self.rows.row_at(i).id for i in range(self.rows.row_count())]
        return [u for u in user_ids if self.rows.position_of(u) >= 0]

    def name_of(self, user_id: str) -> str:
        at = self.rows.position_of(user_id)
        return self.rows.row_at(at).name or user_id if at >= 0 else user_id

    def users_changed(self, ids: list[str]) -> None:
        """Something changed these users (a decision, a job, another studio): re-read their rows, the counts and,
        if it is one of them, the shown user."""
        self.previews.forget(set(ids))  # a load in flight now is not kept either
        if ids:
            self.rows_changed.emit(ids)
        self.refresh_counts()
        if self.current is not None and self.current.id in ids:
            self.reload_current()

    # --- the shown user and its preview ---------------------------------------------------------------------

    def show_user(self, row: UserRow | None) -> None:
        moved = row is None or self.current is None or row.id != self.current.id
        self.current = row
        self._reload_generation += 1
        self.preview_generation += 1
        generation = self.preview_generation
        self.user_shown.emit(UserShown(row, moved))
        if row is None:
            return
        cached = self.previews.get(row)
        if cached is not None:  # J/K onto a neighbour loaded ahead: its 3D frame is drawn at once
            self._loaded(generation, cached)
            self._prefetch_around(row, generation)
            return
        seen = self.previews.seen(row.id)

        def ready(loaded: LoadedPreview) -> None:
            self.previews.remember(row, loaded, seen)
            self._loaded(generation, loaded)
            self._prefetch_around(row, generation)

        self.tasks(
            lambda: load_preview(self.portal, row),
            done=ready,
            failed=lambda exc: self._load_failed(generation, exc),
            after=self.defer,
        )

    def _loaded(self, generation: int, loaded: LoadedPreview) -> None:
        if generation == self.preview_generation:
            self.preview_loaded.emit(loaded)

    def _load_failed(self, generation: int, exc: BaseException) -> None:
        if generation == self.preview_generation:
            self.preview_failed.emit(exc)

    def _prefetch_around(self, row: UserRow, generation: int) -> None:
        """Load the neighbours' photos and maps on the worker while the editor looks at this one.

        The loads start once this user's frame is painted (``prefetch_after``: they would share the GIL with that
        paint), and none is read if the editor has moved on by then (``generation``): the next user prefetches
        around itself.
        """
        at = self.rows.position_of(row.id)
        for step in PREFETCH_STEPS:
            i = at + step
            if at < 0 or not 0 <= i < self.rows.row_count():
                continue
            neighbour = self.rows.row_at(i)
            key = row_key(neighbour)
            if key in self.previews or key in self.previews.loading:
                continue
            self.previews.loading.add(key)

            def load(n: UserRow = neighbour) -> LoadedPreview | None:
                return load_preview(self.portal, n) if generation == self.preview_generation else None

            def done(
                loaded: LoadedPreview | None,
                n: UserRow = neighbour,
                k: tuple[str, str] = key,
                seen: int = self.previews.seen(neighbour.id),
            ) -> None:
                self.previews.loading.discard(k)
                if loaded is not None:
                    self.previews.remember(n, loaded, seen)

            self.tasks(
                load,
                done=done,
                failed=lambda _exc, k=key: self.previews.loading.discard(k),  # selecting it will say why
                after=self.prefetch_after,
            )

    def reload_current(self) -> None:
        if self.current is None:
            return
        uid = self.current.id
        self._reload_generation += 1
        generation = self._reload_generation
        self.tasks(lambda: self.portal.get_user(uid), done=lambda row: self._reloaded(generation, uid, row))

    def _reloaded(self, generation: int, user_id: str, row: UserRow | None) -> None:
        # The editor may have moved on (J) or asked again meanwhile: an older answer must not take the preview back.
        current = self.current
        if row is not None and generation == self._reload_generation and current is not None and current.id == user_id:
            self.show_user(row)

    def show_user_by_id(self, user_id: str) -> None:
        """Show a user the list does not hold (not on its first page), read from the portal."""
        self.tasks(lambda: self.portal.get_user(user_id), done=self.show_user)

    # --- review ---------------------------------------------------------------------------------------------

    def review(self, decision: str, note: str | None = None) -> ReviewStep | None:
        """The decision on the selected users that have a depth map, for the undo stack to do; None (and a
        message) when none of them has one."""
        reviewable = self.reviewable_rows()
        if not reviewable:
            return None
        return ReviewStep(self, reviewable, decision, note)

    def reviewable_rows(self) -> list[UserRow]:
        """The selected users with a depth map to judge; with none, it says so (the message) and returns []."""
        reviewable = [r for r in self.selected_rows() if r.result_id is not None]
        if not reviewable:
            self.message.emit("nothing to review here: the selected users have no depth map yet (G generates one)")
        return reviewable

    def record_decisions(self, groups: list[tuple[list[str], str, str | None]], shown: dict[str, int]) -> None:
        """Write decisions on the results in ``shown`` off the GUI thread, then refresh the rows and counts."""
        asked = [uid for ids, _, _ in groups for uid in ids]
        self.rows_changing.emit(asked)  # before a page can read the write

        def write() -> list[str]:
            done: list[str] = []
            for ids, decision, note in groups:
                done += self.portal.decide(ids, decision, reviewer=self.reviewer, note=note, expected=shown)
            return done

        def written(ids: list[str]) -> None:
            self.users_changed(asked)
            verb = groups[0][1] if len(groups) == 1 else "restored"
            text = f"{verb}: {len(ids)} user{'s' if len(ids) != 1 else ''} (by {self.reviewer})"
            skipped = len(set(asked) - set(ids))
            if skipped:
                text += f"; {skipped} skipped: their depth map was regenerated since you looked, review it again"
            self.message.emit(text)

        self.writes(
            write, done=written, failed=lambda exc: self.problem.emit(Problem(f"not recorded: {describe(exc)}"))
        )

    def publish_plan(self) -> tuple[int, str, str]:
        """(how many, the question, where to and what is skipped) for the confirmation, from the shown counts."""
        from depthstudio.storage import describe_destination

        counts = self.counts
        n = counts.get("approved", 0)
        portal = "the demo portal" if self.config.is_demo else safe_url(self.config.portal.url)
        skipped = [
            (counts.get("generated", 0), "awaiting review"),
            (counts.get("rejected", 0), "rejected"),
            (counts.get("stale", 0), "stale (their photo changed)"),
            (counts.get("failed", 0), "failed"),
        ]
        skip = ", ".join(f"{k:,} {label}" for k, label in skipped if k)
        text = f"Publish {n:,} approved depth map{'s' if n != 1 else ''}?"
        rest = f"Not published: {skip}." if skip else "Nothing else is waiting."
        return n, text, f"{describe_destination(self.config, portal)}\n{rest}"

"""The user list as a Qt model over the portal repository: SQL pages fetched lazily, thumbnails off-thread.

Views never query the database: the model asks the repository for one page at a time (``canFetchMore`` /
``fetchMore``) on a worker thread, so 100k users cost one page of rows and one ``COUNT``, and scrolling never
blocks the window. A query change bumps a generation number; pages of an older query are dropped on arrival.

Rows stay on screen after a decision even when they leave the filter, so the next page's SQL offset is not the
number of rows shown. The model keeps its own offset and, whenever shown users change, steps it back one per
changed user (each can shift the rows behind it up by at most one); a page read while users changed is kept
but the next read starts that many rows before it. Paging therefore re-reads a few rows rather than skipping
one, and rows already shown are de-duplicated by id.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QThreadPool,
    Signal,
)
from PySide6.QtGui import QImage

from depthstudio.imaging import FetchPolicy
from depthstudio.jobs.failures import explain
from depthstudio.portal.repository import Portal, Query, UserRow
from depthstudio.portal.status import status_label
from depthstudio.studio import photos
from depthstudio.studio.sources import depth_source
from depthstudio.ui.plain import display, tooltip_html
from depthstudio.ui.workers import TaskRunner, describe

log = logging.getLogger(__name__)

ROW_ROLE = Qt.ItemDataRole.UserRole + 1  # the UserRow
THUMB_ROLE = Qt.ItemDataRole.UserRole + 2  # QImage or None while loading

ModelIndex = QModelIndex | QPersistentModelIndex


class ThumbnailCache(QObject):
    """Square thumbnails by avatar URL, framed through ``[web] display_crop`` (``display_crop()`` at each load):
    decoded on a thread pool, kept in an LRU of ``capacity`` images; ``clear`` after the setting changes."""

    ready = Signal(str)  # the avatar URL whose thumbnail arrived

    def __init__(
        self,
        size: int = 48,
        capacity: int = 2000,
        *,
        policy: FetchPolicy,
        display_crop: Callable[[], str] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.size = size
        self.policy = policy  # the portal's: no default that could read local files a real portal forbids
        # A callable: Settings replaces the config's sections, so a section object kept here would go stale.
        self.display_crop = display_crop or (lambda: "none")
        self.capacity = capacity
        self._images: OrderedDict[str, QImage | None] = OrderedDict()  # None: failed, don't retry
        self._loading: set[str] = set()
        self._requests = 0
        pool = QThreadPool(self)
        pool.setMaxThreadCount(2)  # decoding is CPU-bound; leave cores for the GUI and the jobs
        self._tasks = TaskRunner(pool, self)
        # When a load asked for by a paint starts: at once here; the window starts it once that paint is done
        # (``ui.after_paint``): decoding on a worker takes the GIL from the paint that is asking for the rows.
        self.defer: Callable[[Callable[[], None]], None] | None = None

    def get(self, source: str) -> QImage | None:
        """The cached image, or None after scheduling a load (``ready`` fires when it lands)."""
        if source in self._images:
            self._images.move_to_end(source)
            return self._images[source]
        if source not in self._loading:
            self._loading.add(source)
            size, crop = self.size, self.display_crop()
            # Newest first: after a fast scroll the rows on screen now decode before those scrolled past.
            self._requests += 1
            self._tasks.submit(
                lambda: _to_qimage(photos.thumbnail(source, size, self.policy, crop)),
                done=lambda img: self._store(source, img, crop=crop),
                failed=lambda exc: self._store(source, None, exc, crop=crop),
                priority=self._requests % 2**30,
                after=self.defer,
            )
        return None

    def clear(self) -> None:
        """Forget every thumbnail (``[web] display_crop`` changed): the rows ask again and get the new framing."""
        self._images.clear()
        self._loading.clear()

    def _store(
        self, source: str, image: QImage | None, exc: BaseException | None = None, *, crop: str | None = None
    ) -> None:
        if exc is not None:
            log.info("no thumbnail for %s: %s", source, describe(exc))
        if crop is not None and crop != self.display_crop():
            return  # framed before the setting changed; ``clear`` let the row ask again
        self._loading.discard(source)
        self._images[source] = image
        while len(self._images) > self.capacity:
            self._images.popitem(last=False)
        self.ready.emit(source)


def _to_qimage(img: Any) -> QImage:
    if img.mode != "RGBA":
        img = img.convert("RGBA")
    data = img.tobytes("raw", "RGBA")
    # QImage does not own ``data``; copy() detaches it before the bytes go away.
    return QImage(data, img.width, img.height, img.width * 4, QImage.Format.Format_RGBA8888).copy()


class UserListModel(QAbstractListModel):
    """Rows of ``Portal.list_users`` for one ``Query``, fetched ``page_size`` at a time."""

    loaded = Signal()  # the first page of a (new) query is in; the count and the filter counts follow
    counted = Signal(int)  # total rows of the query
    error = Signal(str)

    def __init__(self, portal: Portal, *, page_size: int = 200, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.portal = portal
        self.page_size = page_size
        self.query = Query()
        self.total: int | None = None
        self._rows: list[UserRow] = []
        self._by_id: dict[str, int] = {}
        self._names: Counter[str] = Counter()  # names seen in the loaded rows: a repeated one gets its id shown
        self._by_avatar: dict[str, list[int]] = {}
        self._generation = 0
        self._shifts = 0  # steps back noted so far (see expect_changes): a page read meanwhile may be shifted
        self._offset = 0  # the next page's SQL offset (not len(self._rows): see the module docstring)
        self._announced = False  # ``loaded`` emitted for this query
        self._fetching = False
        self._exhausted = False
        self.thumbnails = ThumbnailCache(
            policy=portal.config.fetch.policy(), display_crop=lambda: portal.config.web.display_crop, parent=self
        )
        self.thumbnails.ready.connect(self._thumbnail_ready)
        self._tasks = TaskRunner(parent=self)
        # When the count of a new query starts: at once here; the window starts it once the list has painted
        # the first page (``ui.after_paint``), so the COUNT does not slow that paint. It is pending meanwhile.
        self.defer: Callable[[Callable[[], None]], None] | None = None

    # --- query --------------------------------------------------------------------------------------------

    def set_query(self, query: Query) -> None:
        """Replace the rows with the first page of ``query`` (asynchronously; ``loaded`` says when)."""
        self.query = query
        self._generation += 1
        self.beginResetModel()
        self._rows, self._by_id, self._by_avatar = [], {}, {}
        self._names = Counter()
        self.total = None
        self._offset = 0
        self._announced = False
        self._exhausted = False
        self._fetching = False
        self.endResetModel()
        self._fetch_page()

    def _count(self, after: Callable[[Callable[[], None]], None] | None = None) -> None:
        """The total, asked only once the first page is in: on a big portal the page must not wait for it."""
        generation, query = self._generation, self.query
        self._tasks.submit(
            lambda: self.portal.count_users(query),
            done=lambda n: self._set_total(generation, n),
            failed=lambda exc: self.error.emit(f"cannot count users: {describe(exc)}"),
            after=after,
        )

    def _set_total(self, generation: int, n: int) -> None:
        if generation == self._generation:
            self.total = n
            self.counted.emit(n)

    # --- lazy paging --------------------------------------------------------------------------------------

    def canFetchMore(self, parent: ModelIndex = QModelIndex()) -> bool:  # noqa: B008 - Qt's signature
        return not parent.isValid() and not self._exhausted and not self._fetching

    def fetchMore(self, parent: ModelIndex = QModelIndex()) -> None:  # noqa: B008
        if not parent.isValid():
            self._fetch_page()

    def _fetch_page(self) -> None:
        if self._fetching or self._exhausted:
            return
        self._fetching = True
        generation, shifts, query = self._generation, self._shifts, self.query
        offset, limit = self._offset, self.page_size
        self._tasks.submit(
            lambda: self.portal.list_users(query, offset=offset, limit=limit),
            done=lambda rows: self._append(generation, shifts, offset, rows),
            failed=lambda exc: self._page_failed(generation, exc),
        )

    def _append(self, generation: int, shifts: int, offset: int, rows: list[UserRow]) -> None:
        if generation != self._generation:
            return
        self._fetching = False
        moved = self._shifts - shifts  # users changed while it was read: rows may have slid in before it
        self._offset = max(0, offset - moved) if moved else offset + len(rows)
        self._exhausted = not moved and len(rows) < self.page_size
        fresh = [r for r in rows if r.id not in self._by_id]
        if fresh:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
            for i, row in enumerate(fresh):
                self._by_id[row.id] = first + i
                if row.avatar:
                    self._by_avatar.setdefault(row.avatar, []).append(first + i)
            self._rows.extend(fresh)
            self._names.update(r.name or "" for r in fresh)
            self.endInsertRows()
        if not self._announced:
            self._announced = True
            self.loaded.emit()
            self._count(after=self.defer)
        if moved or (not fresh and not self._exhausted):
            self._fetch_page()  # the view would not ask again for rows it cannot see yet: go on

    def _page_failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._generation:
            return
        self._fetching = False
        self._exhausted = True  # no retry loop against a dead database; a filter change or refresh retries
        self.error.emit(f"cannot list users: {describe(exc)}")
        if not self._announced:
            self._announced = True
            self.loaded.emit()
            self._count()

    @property
    def busy(self) -> bool:
        return self._fetching or self._tasks.pending > 0

    # --- rows changing in place ---------------------------------------------------------------------------

    def refresh_users(self, user_ids: Iterable[str]) -> None:
        """Re-read these users (after a decision or a job result) and update their rows where they are shown.

        Rows stay where they are even if they no longer match the filter, as in a culling tool: the list must
        not jump under the editor's cursor. The next filter change re-queries.
        """
        ids = self.expect_changes(user_ids)
        if not ids:
            return
        generation = self._generation
        self._tasks.submit(
            lambda: [self.portal.get_user(u) for u in ids],
            done=lambda rows: self._replace(generation, rows),
            failed=lambda exc: self.error.emit(f"cannot refresh users: {describe(exc)}"),
        )

    def expect_changes(self, user_ids: Iterable[str]) -> list[str]:
        """Note that these users change (or just changed) in the database; returns those that are shown.

        Called before a write and again when its rows are re-read: a shown user that leaves the filter or moves
        in the sort order shifts the rows behind it by one, so the next page starts one row earlier per user.
        Stepping back too far only re-reads rows already shown; a page in flight is read again.
        """
        ids = [u for u in dict.fromkeys(user_ids) if u in self._by_id]
        if ids:
            self._offset = max(0, self._offset - len(ids))
            self._shifts += len(ids)
        return ids

    def _replace(self, generation: int, rows: list[UserRow | None]) -> None:
        if generation != self._generation:
            return
        for row in rows:
            if row is None or row.id not in self._by_id:
                continue
            i = self._by_id[row.id]
            if row.avatar and row.avatar != self._rows[i].avatar:
                self._by_avatar.setdefault(row.avatar, []).append(i)
            self._names[self._rows[i].name or ""] -= 1
            self._names[row.name or ""] += 1
            self._rows[i] = row
            index = self.index(i)
            self.dataChanged.emit(index, index)

    # --- Qt model -----------------------------------------------------------------------------------------

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return display_name(row, self.repeated(row))
        if role == ROW_ROLE:
            return row
        if role == THUMB_ROLE:
            return self.thumbnails.get(row.avatar) if row.avatar else None
        if role == Qt.ItemDataRole.ToolTipRole:
            return tooltip_html(tooltip(row))
        return None

    def repeated(self, row: UserRow) -> bool:
        """Whether another loaded user has the same name, so the list and header must say which one this is."""
        return self._names[row.name or ""] > 1

    def row_at(self, i: int) -> UserRow:
        return self._rows[i]

    def index_of(self, user_id: str) -> QModelIndex:
        i = self._by_id.get(user_id)
        return self.index(i) if i is not None else QModelIndex()

    def _thumbnail_ready(self, source: str) -> None:
        for i in self._by_avatar.get(source, ()):
            index = self.index(i)
            self.dataChanged.emit(index, index, [THUMB_ROLE])


def display_name(row: UserRow, repeated: bool) -> str:
    """The name to draw; where names repeat, with the id that tells the users apart."""
    name = display(row.name or row.id)
    return f"{name}  · id {display(row.id)}" if repeated and row.name else name


def tooltip(row: UserRow) -> str:
    lines = [f"{row.name or '(no name)'} — {status_label(row.status)}", f"id {row.id}"]
    if row.error:
        lines.append(f"failed ({explain(row.error_kind).phrase}): {row.error}")
    if row.decision:
        lines.append(f"{row.decision} by {row.reviewer}" + (f": {row.note}" if row.note else ""))
    if row.backend:
        lines.append(f"depth: {depth_source(row.backend, row.model)}, QA risk {row.qa_risk:.2f}")
    return "\n".join(lines)

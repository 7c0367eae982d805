"""``users``, ``generate-missing``, ``publish``, ``review`` and ``worker``: the headless side of the studio."""

from __future__ import annotations

import json
import logging
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

import click

from depthstudio.cli import EXIT_CANCELLED, EXIT_FATAL, EXIT_OK, EXIT_PARTIAL, AppContext, fail, pass_app
from depthstudio.depth.factory import BACKENDS
from depthstudio.errors import DepthstudioError
from depthstudio.portal.repository import SORTS, Portal, Query, current_reviewer
from depthstudio.portal.reviews import Decision
from depthstudio.portal.status import STATUSES, Status, parse_status, status_label

if TYPE_CHECKING:
    from depthstudio.jobs.progress import ItemEvent, Summary

log = logging.getLogger(__name__)


def open_portal(app: AppContext, *, upgrade: bool = True) -> Portal:
    """The configured portal; the demo portal is created and seeded on first use. ``upgrade=False`` for commands
    that only read: they never create or alter a table of a real portal."""
    from depthstudio.jobs.demo_results import seed_demo

    try:
        portal = Portal.open(app.config, upgrade=upgrade or app.config.is_demo)
        seed_demo(portal, app.config)
        return portal
    except DepthstudioError as err:
        fail(err)
        raise  # unreachable: fail() exits


def _exit_code(summary: Summary) -> int:
    if summary.cancelled:
        return EXIT_CANCELLED
    if summary.fatal:
        return EXIT_FATAL
    return EXIT_OK if summary.ok else EXIT_PARTIAL


def _run_job(run: Callable[[], Summary]) -> Summary:
    """A job that cannot even start (queue unreachable) is a fatal error with a sentence, not a traceback."""
    try:
        return run()
    except DepthstudioError as err:
        fail(err)
        raise  # unreachable: fail() exits


class _Interrupts:
    """First Ctrl-C: finish the items in flight and stop. Second: abandon them (nothing half-written stays)."""

    def __init__(self, stop: Callable[[], None], cancel: Callable[[], None]) -> None:
        self.stop, self.cancel, self.count = stop, cancel, 0

    def __call__(self, _sig: int, _frame: FrameType | None) -> None:
        self.count += 1
        if self.count == 1:
            click.echo("\nstopping: finishing the items in flight (Ctrl-C again to abandon them)", err=True)
            self.stop()
        else:
            click.echo("\ncancelling: abandoning the items in flight; the next run does what is left", err=True)
            self.cancel()

    def install(self) -> None:
        signal.signal(signal.SIGINT, self)
        signal.signal(signal.SIGTERM, self)


class StatusWord(click.ParamType):
    """A status in the CLI's or the studio's words (``generated`` or ``awaiting review``, ``in progress``)."""

    name = "status"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, ...]:
        if isinstance(value, tuple):
            return value
        try:
            return parse_status(str(value))
        except ValueError as err:
            self.fail(str(err), param, ctx)


@click.command("users")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=StatusWord(),
    help=f"Filter (repeatable): {', '.join(STATUSES)}, or the studio's words (awaiting review, in progress).",
)
@click.option("--search", default="", help="Substring of the name (case-insensitive).")
@click.option("--flagged", is_flag=True, help="Only results with a high QA risk.")
@click.option("--sort", type=click.Choice(SORTS), default="name", show_default=True)
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--offset", type=int, default=0)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_app
def users_cmd(
    app: AppContext,
    statuses: tuple[tuple[str, ...], ...],
    search: str,
    flagged: bool,
    sort: str,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """List the portal's users with their depth status."""
    portal = open_portal(app, upgrade=False)
    query = Query(
        statuses=tuple(dict.fromkeys(s for named in statuses for s in named)), search=search, flagged=flagged, sort=sort
    )
    rows = portal.list_users(query, offset=offset, limit=limit)
    if as_json:
        for r in rows:
            click.echo(
                json.dumps(
                    {
                        "id": r.id,
                        "name": r.name,
                        "status": r.status,
                        "label": status_label(r.status),
                        "avatar": r.avatar,
                        "depth": r.depth_url,
                        "error_kind": r.error_kind,
                        "error": r.error,
                        "qa_risk": r.qa_risk,
                        "decision": r.decision,
                        "reviewer": r.reviewer,
                    }
                )
            )
        return
    counts = portal.status_counts(query)
    # In the studio's words ("awaiting review"), which --status accepts too; --json keeps the stored words.
    click.echo(
        "  ".join(f"{status_label(s)}: {counts[s]}" for s in STATUSES if counts[s]) + f"  (total {counts['all']})"
    )
    total = portal.count_users(query)
    for r in rows:
        detail = f"  [{r.error_kind}] {r.error}" if r.status == Status.FAILED else ""
        if r.qa_risk >= 0.5:
            detail += f"  QA risk {r.qa_risk:.2f}"
        click.echo(f"{r.id:<28} {status_label(r.status):<17} {r.name or ''}{detail}")
    shown_to = offset + len(rows)
    if total > shown_to or offset:
        click.echo(f"({offset + 1 if rows else offset}-{shown_to} of {total}; use --offset/--limit)")


def _backend(app: AppContext, name: str | None):  # noqa: ANN202 - DepthBackend, imported lazily
    from depthstudio.cli.download import DownloadReporter
    from depthstudio.depth.factory import describe, explain, make_backend

    reporter = DownloadReporter()
    try:
        backend = make_backend(app.config, name, progress=reporter)
    except DepthstudioError as err:
        reporter.close()
        fail(err)
    reporter.close()
    click.echo(f"depth backend: {describe(backend)}", err=True)
    why = explain(backend)
    if why:
        click.echo(why, err=True)
    return backend


def _store(app: AppContext, *, optional: bool = False):  # noqa: ANN202 - DepthStore
    """``optional`` (a worker): a store that may not publish here is no store; its publishing jobs end generated."""
    from depthstudio.storage import open_store

    try:
        return open_store(app.config)
    except DepthstudioError as err:
        if optional and err.kind == "store_not_public":
            click.echo(f"note: not publishing from this worker: {err}", err=True)
            return None
        fail(err)


@click.command("generate-missing")
@click.option("--backend", type=click.Choice(BACKENDS), help="Default: from config.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    help="Depth-backend calls in flight at once (other items are fetched and recorded meanwhile).",
)
@click.option("--limit", type=click.IntRange(1), help="Queue at most this many users.")
@click.option("--publish/--no-publish", default=None, help="Publish at once (default: when review is off).")
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Also retry every failed user now (plain runs retry only the environment's failures, with backoff).",
)
@click.option("--dry-run", is_flag=True, help="Only list who would be queued (never loads a model).")
@click.option("--progress/--no-progress", "show_progress", default=None, help="Force the bar on/off.")
@click.option("--json", "as_json", is_flag=True, help="End with one JSON object: the counts and every failure.")
@click.option(
    "--revalidate/--no-revalidate",
    default=True,
    help="First ask the photos' servers whether photos behind existing maps changed in place (default: on).",
)
@pass_app
def generate_missing_cmd(
    app: AppContext,
    backend: str | None,
    concurrency: int | None,
    limit: int | None,
    publish: bool | None,
    retry_failed: bool,
    dry_run: bool,
    show_progress: bool | None,
    as_json: bool,
    revalidate: bool,
) -> None:
    """Make depth maps for every user without a valid one (missing or stale photo)."""
    from depthstudio.cli.progress_display import ProgressReporter
    from depthstudio.jobs.generate import GenerateMissingJob, NothingToDo, plan_run

    portal = open_portal(app)
    found: list[str] = []
    if revalidate and not dry_run:  # a dry run changes nothing, not even what it knows about the photos
        from depthstudio.jobs.photo_check import revalidate as revalidate_photos

        checked = _run_job(lambda: revalidate_photos(portal, app.config))
        found = checked.lines()
        if checked.checked:
            log.info("re-validated %d photos at %.0f/s", checked.checked, checked.rate)
    planned = _run_job(lambda: plan_run(portal, app.config, include_failed=retry_failed, limit=limit))
    if dry_run:
        for uid, avatar in planned.users:
            click.echo(f"{uid}\t{avatar}")
        click.echo(f"{len(planned.users)} users would be queued", err=True)
        for note in planned.notes:
            click.echo(note, err=True)
        return
    do_publish = (not app.config.studio.review_required) if publish is None else publish
    store = _store(app) if do_publish else None  # a store that may not publish is refused every night (no network)
    if not planned.users:
        # No work, no model: a quiet night needs neither the network nor the weights, and is no error.
        quiet = _run_job(NothingToDo(portal, planned).run)
        quiet.notes[:0] = found
        _report("generate-missing", quiet, portal, as_json=as_json)
        return
    be = _backend(app, backend)
    with ProgressReporter("generate", interactive=show_progress) as rep:
        job = GenerateMissingJob(
            portal,
            be,
            store,
            app.config,
            publish=do_publish,
            limit=limit,
            include_failed=retry_failed,
            concurrency=concurrency,
            on_progress=rep.progress,
            on_item=rep.item,
            planned=planned,
        )
        _Interrupts(job.stop, job.cancel).install()
        summary = _run_job(job.run)
    summary.notes[:0] = found
    be.close()
    from depthstudio.depth.factory import describe

    _report("generate-missing", summary, portal, as_json=as_json, suffix=f"  [depth: {describe(be)}]")


def _report(label: str, summary: Summary, portal: Portal, *, as_json: bool, suffix: str = "") -> None:
    """The summary an operator reads at 7 am: one line, one line per failure group, the held-back users; the
    full failure list goes to ``--json`` (and, one line each, to the log as they happen). Exits with the code."""
    from depthstudio.jobs.failures import explain, fault_of

    click.echo(f"{label}: {summary.line()}{suffix}")
    groups: dict[str, list[ItemEvent]] = {}
    for f in sorted(summary.failures, key=lambda f: f.user_id):  # threads finish in any order; readers scan by id
        groups.setdefault(f.error_kind or "unknown", []).append(f)
    names: dict[str, str] = {}
    for kind, items in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        shown = [_name_of(portal, f.user_id, names) for f in items[:5]]
        more = f" and {len(items) - 5} more" if len(items) > 5 else ""
        click.echo(
            f"  {kind} ({fault_of(kind, items[0].message)}): {len(items)} failed, "
            f"{explain(kind).phrase}: {', '.join(shown)}{more}"
        )
    for note in summary.notes:
        click.echo(note)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "summary": summary.line(),
                    "outcomes": summary.progress.outcomes,
                    "cancelled": summary.cancelled,
                    "fatal": summary.fatal,
                    "notes": summary.notes,
                    "failures": [
                        {
                            "id": f.user_id,
                            "name": names.get(f.user_id) or _name_of(portal, f.user_id, names),
                            "kind": f.error_kind,
                            "fault": fault_of(f.error_kind, f.message),
                            "message": f.message,
                        }
                        for f in summary.failures
                    ],
                }
            )
        )
    sys.exit(_exit_code(summary))


def _name_of(portal: Portal, user_id: str, cache: dict[str, str]) -> str:
    """ "Name (id)" as plain text on one short line: names are written by strangers."""
    if user_id not in cache:
        row = portal.get_user(user_id)
        raw = (row.name or "") if row is not None else ""
        name = "".join(ch if ch.isprintable() else " " for ch in raw).strip()[:40]
        cache[user_id] = f"{name} ({user_id})" if name else user_id
    return cache[user_id]


@click.command("publish")
@click.option("--user", "user_ids", multiple=True, help="Only these users (default: every approved one).")
@click.option("--concurrency", type=click.IntRange(1, 64))
@click.option("--progress/--no-progress", "show_progress", default=None)
@pass_app
def publish_cmd(
    app: AppContext, user_ids: tuple[str, ...], concurrency: int | None, show_progress: bool | None
) -> None:
    """Publish approved depth maps: upload, then write the URL unless the photo changed since."""
    from depthstudio.cli.progress_display import ProgressReporter
    from depthstudio.jobs.generate import PublishApprovedJob

    portal = open_portal(app)
    store = _store(app)
    with ProgressReporter("publish", interactive=show_progress) as rep:
        job = PublishApprovedJob(
            portal,
            store,
            app.config,
            user_ids=list(user_ids) or None,
            concurrency=concurrency,
            on_progress=rep.progress,
            on_item=rep.item,
        )
        _Interrupts(job.stop, job.cancel).install()
        summary = _run_job(job.run)
    _report("publish", summary, portal, as_json=False)


@click.command("review")
@click.argument("user_ids", nargs=-1, required=True)
@click.option("--approve", "decision", flag_value=Decision.APPROVED, help="Approve the current depth map.")
@click.option("--reject", "decision", flag_value=Decision.REJECTED, help="Reject it.")
@click.option("--clear", "decision", flag_value=Decision.CLEARED, help="Back to awaiting review.")
@click.option("--note", help="Why (shown with the decision).")
@pass_app
def review_cmd(app: AppContext, user_ids: tuple[str, ...], decision: str | None, note: str | None) -> None:
    """Approve or reject users' current depth maps (recorded with who and when)."""
    if decision is None:
        raise click.UsageError("say --approve, --reject or --clear")
    portal = open_portal(app)
    applied = portal.decide(user_ids, decision, reviewer=current_reviewer(app.config), note=note)
    skipped = sorted(set(user_ids) - set(applied))
    click.echo(f"{decision}: {len(applied)} user(s)")
    if skipped:
        click.echo(f"no depth map to review for: {', '.join(skipped)}", err=True)
        sys.exit(EXIT_PARTIAL)


@click.command("worker")
@click.option("--backend", type=click.Choice(BACKENDS))
@click.option("--concurrency", type=click.IntRange(1, 256), help="Depth-backend calls in flight at once.")
@click.option("--until-empty", is_flag=True, help="Exit when the queue is empty instead of waiting for work.")
@click.option("--poll", "poll_s", type=float, default=2.0, show_default=True, help="Seconds between empty polls.")
@pass_app
def worker_cmd(app: AppContext, backend: str | None, concurrency: int | None, until_empty: bool, poll_s: float) -> None:
    """Serve the shared job queue (run one per machine; PostgreSQL row locks share the work)."""
    from depthstudio.cli.progress_display import ProgressReporter
    from depthstudio.jobs.runner import BulkRunner

    portal = open_portal(app)
    cfg = app.config
    be = _backend(app, backend)
    store = _store(app, optional=True)
    with ProgressReporter("worker", interactive=False, every_s=30.0) as rep:
        runner = BulkRunner.from_config(
            portal, be, store, cfg, concurrency=concurrency, on_progress=rep.progress, on_item=rep.item
        )
        click.echo(f"worker {runner.worker_id} serving the queue", err=True)
        _Interrupts(runner.stop, runner.cancel).install()
        summary = _run_job(lambda: runner.run(until_empty=until_empty, poll_s=poll_s, total=0))
    be.close()
    click.echo(f"worker: {summary.line()}")
    sys.exit(_exit_code(summary))


def register(main: click.Group) -> None:
    for cmd in (users_cmd, generate_missing_cmd, publish_cmd, review_cmd, worker_cmd):
        main.add_command(cmd)

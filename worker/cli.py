"""The `newswatch` command line: run the service, inspect its state, try the watchlist."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from worker.config import ConfigError, Settings, load_settings

log = logging.getLogger("newswatch")
# Gossip, mingle and heartbeat events serve monitors and revokes that newswatch does not use; they
# cost the worker's main process CPU per task and every worker traffic with all the others.
# Remote control (`celery inspect ping`, the compose healthcheck) stays on.
QUIET_WORKER = ("--without-gossip", "--without-mingle", "--without-heartbeat")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `newswatch` console script; returns the process exit code."""
    args = _parser().parse_args(argv)
    if getattr(args, "config", None) and args.command in (_cmd_run, _cmd_worker, _cmd_beat):
        # the watchlist reload (worker.watchlist_reload) rereads this file in every pool process
        os.environ["NEWSWATCH_CONFIG"] = str(Path(args.config).resolve())
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"newswatch: {exc}", file=sys.stderr)
        return 2
    result: int = args.command(settings, args)
    return result


def _parser() -> argparse.ArgumentParser:
    # `--config` is accepted before or after the subcommand; the subcommand's copy only applies
    # when given (SUPPRESS), so `newswatch --config F match …` keeps F.
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        help="configuration file (default: $NEWSWATCH_CONFIG or newswatch.yaml)",
    )
    parser = argparse.ArgumentParser(prog="newswatch", description=__doc__)
    parser.add_argument("--config", help="configuration file (default: $NEWSWATCH_CONFIG or newswatch.yaml)")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, parents=[config])

    run = command("run", "worker and beat in one process (Ctrl-C stops)")
    run.add_argument("--once", action="store_true", help="one pass over everything due, then exit")
    run.add_argument("--concurrency", type=int, default=2)
    run.add_argument("--verbose", action="store_true", help="show Celery's banner and per-task log lines")
    run.set_defaults(command=_cmd_run)
    worker = command("worker", "a Celery worker (run as many as you like)")
    worker.add_argument("--concurrency", type=int, default=2)
    worker.add_argument("--hostname", default=None, help="Celery node name (default: celery@HOST)")
    worker.add_argument("--max-tasks-per-child", type=int, default=None,
                        help="recycle each pool process after this many tasks (default 500)")
    worker.set_defaults(command=_cmd_worker)
    command("beat", "the scheduler (run exactly one)").set_defaults(command=_cmd_beat)
    check = command("check", "validate the configuration, the destinations and the watch examples")
    check.add_argument("--lock", type=Path, help="write the generated forms to this lock file")
    check.set_defaults(command=_cmd_check)
    match = command("match", "run the watches over local .txt/.html files")
    match.add_argument("--json", action="store_true", help="one JSON object per file, one per line")
    match.add_argument("paths", nargs="+", type=Path)
    match.set_defaults(command=_cmd_match)
    alerts = command("alerts", "recent messages (one per story, and follow-ups), notices, delivery states")
    alerts.add_argument("--limit", type=int, default=20)
    alerts.add_argument(
        "--retry-failed", action="store_true", help="offer every failed delivery again, with fresh attempts"
    )
    alerts.set_defaults(command=_cmd_alerts)
    feeds = command("feeds", "each feed's state, last success and errors; `feeds audit`: hub, delay, 304s")
    feeds.add_argument("action", nargs="?", choices=["audit"], help="audit: WebSub hub, median "
                       "publish-to-seen delay and 304 ratio per feed (worker/feed_audit.py)")
    feeds.add_argument("--days", type=float, default=7.0, help="audit: the delay window (default 7)")
    feeds.add_argument("--json", action="store_true", help="audit: one JSON object per feed, one per line")
    feeds.set_defaults(command=_cmd_feeds)
    __import__("worker.stories.cli", fromlist=["add_parser"]).add_parser(sub)  # `newswatch stories`
    __import__("worker.backtest", fromlist=["add_parser"]).add_parser(sub)  # `newswatch backtest`
    __import__("worker.serve.cli", fromlist=["add_parsers"]).add_parsers(command)  # `serve`, `health`
    __import__("worker.watchlist_reload", fromlist=["add_parser"]).add_parser(command)  # `watchlist`
    return parser


def _refuse_broken_destinations(settings: Settings) -> bool:
    """The start-up self-check: print one line per destination that cannot work; True if any."""
    from alerts.selfcheck import check_channels

    problems = check_channels(settings.channels)
    for problem in problems:
        print(f"newswatch: cannot start: {problem.line()}", file=sys.stderr)
    return bool(problems)


def _banner(settings: Settings, config: str | None) -> None:
    """What the service is about to run on, in a few lines."""
    from alerts.deliver import describe_destination

    channels = ", ".join(
        f"{name} ({', '.join(map(describe_destination, urls))})" for name, urls in settings.channels.items()
    )
    print(
        f"newswatch: config {Path(config or os.environ.get('NEWSWATCH_CONFIG') or 'newswatch.yaml')}\n"
        f"  store    {_mask_url(settings.database_url)}\n"
        f"  broker   {_mask_url(settings.broker_url)}\n"
        f"  feeds    {len(settings.feeds)}: {', '.join(f.name for f in settings.feeds) or '-'}\n"
        f"  watches  {len(settings.watches)}\n"
        f"  channels {channels or '-'}\n",
        flush=True,
    )


def _setup_logging(settings: Settings) -> None:
    from worker.celery_app import install_redaction

    logging.basicConfig(
        level=settings.service.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    install_redaction(settings.secrets())


def _cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    if _refuse_broken_destinations(settings):
        return 2
    _banner(settings, args.config)
    if args.once:
        return _run_once(settings)
    argv = ["worker", "--beat", f"--concurrency={args.concurrency}", *QUIET_WORKER]
    if not args.verbose:  # no banner, no per-task lines: the alerts, warnings and errors only
        argv = ["--quiet", *argv, "--loglevel=WARNING"]
    return _celery(settings, argv)


def _run_once(settings: Settings) -> int:
    """One pass; exit status 1 when any delivery of the pass failed or is still pending."""
    from worker.oneshot import run_once
    from worker.runtime import Runtime

    _setup_logging(settings)
    from worker.watchlist_reload import reload_watchlist

    rt = Runtime(settings)
    try:
        reload_watchlist(rt)  # this file's watchlist, not an older stored version, is in force
        report = run_once(rt)
    finally:
        rt.close()
    print(
        f"newswatch: {report.feeds_polled} feed(s) polled, {report.entries_processed} new entr(ies), "
        f"{report.alerts_sent} delivery(ies) sent, {report.deliveries_failed} not sent"
    )
    for error in report.feed_errors:
        print(f"newswatch: feed error: {error}", file=sys.stderr)
    return 1 if report.deliveries_failed else 0


def _cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    if _refuse_broken_destinations(settings):
        return 2
    argv = ["worker", f"--concurrency={args.concurrency}", *QUIET_WORKER]
    if args.hostname:
        argv.append(f"--hostname={args.hostname}")
    if args.max_tasks_per_child:
        argv.append(f"--max-tasks-per-child={args.max_tasks_per_child}")
    return _celery(settings, argv)


def _cmd_beat(settings: Settings, _args: argparse.Namespace) -> int:
    return _celery(settings, ["beat"])


def _celery(settings: Settings, argv: list[str]) -> int:
    from alerts.schemes import register_schemes
    from worker.celery_app import make_celery
    from worker.polling import sync_feeds
    from worker.runtime import Runtime

    register_schemes()
    rt = Runtime(settings)
    sync_feeds(rt)  # the store mirrors the configuration before any task runs
    rt.close()
    app = make_celery(settings)
    if not any(a.startswith("--loglevel") for a in argv):
        argv = [*argv, f"--loglevel={settings.service.log_level}"]
    code: int | str | None = 0
    try:
        app.start(argv)
    except SystemExit as exc:
        code = exc.code
    return app.exit_code or (code if isinstance(code, int) else 1)


def _cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    from alerts.deliver import describe_destination
    from alerts.selfcheck import check_destination
    from worker.matching import WatchlistError, compile_watchlist
    from worker.matching.report import check_watchlist

    status = 0
    print(f"store:  {_mask_url(settings.database_url)}\nbroker: {_mask_url(settings.broker_url)}")
    print(f"feeds ({len(settings.feeds)}):")
    for feed in settings.feeds:
        print(
            f"  {feed.name}: {feed.url or feed.path} every {feed.interval}s"
            + (f" → {', '.join(feed.channels)}" if feed.channels else "")
        )
    print(f"channels ({len(settings.channels)}):")
    for name, urls in settings.channels.items():
        for url in urls:
            problem = check_destination(url)
            status |= problem is not None
            print(f"  {name}: {describe_destination(url)}" + (f"  ERROR: {problem}" if problem else ""))
    try:
        matcher = compile_watchlist(settings)
    except WatchlistError as exc:
        print(f"newswatch: watchlist: {exc}", file=sys.stderr)
        return 1
    status |= check_watchlist(settings, matcher, out=sys.stdout, lock_path=args.lock)
    return int(status)


def _cmd_match(settings: Settings, args: argparse.Namespace) -> int:
    from worker.matching import compile_watchlist
    from worker.matching.report import match_files

    return match_files(compile_watchlist(settings), args.paths, as_json=args.json, out=sys.stdout)


def _cmd_alerts(settings: Settings, args: argparse.Namespace) -> int:
    from worker.delivery import retry_failed
    from worker.runtime import Runtime

    rt = Runtime(settings)
    if args.retry_failed:
        count = retry_failed(rt)
        print(f"newswatch: {count} failed delivery(ies) offered again; a running worker sends them")
    from worker.messages import recent_messages
    from worker.notices import recent_notices

    with rt.engine.connect() as conn:  # one message per story (and follow-ups), newest first
        for message in recent_messages(conn, args.limit):
            print(f"{_when(message.created_at)}  story {message.story_id} {message.kind}"
                  f"  {', '.join(message.watches)}  {message.headline}")
            for label, state, error in message.deliveries:
                print(f"    {state:8} {label}" + (f"  — {error}" if error else ""))
        for notice in recent_notices(conn, args.limit):  # what the service told its operators
            print(f"{_when(notice.created_at)}  notice {notice.kind}  {notice.title}  ({notice.source})")
            for label, state, error in notice.deliveries:
                print(f"    {state:8} {label}" + (f"  — {error}" if error else ""))
    rt.close()
    return 0


def _cmd_feeds(settings: Settings, args: argparse.Namespace) -> int:
    from worker.inspect import feed_health
    from worker.runtime import Runtime

    rt = Runtime(settings)
    if args.action == "audit":
        from worker.feed_audit import audit_feeds

        names = [f.name for f in settings.feeds]
        for audit in audit_feeds(rt.engine, names, now=rt.clock(), days=args.days):
            print(json.dumps(audit.as_json(), ensure_ascii=False) if args.json else audit.line())
        rt.close()
        return 0
    print(f"{'feed':24} {'state':12} {'last success':20}  {'errors':>6}  {'failed':>6}  reason")
    for feed in feed_health(rt):
        reason = (feed.last_error or "").replace("\n", " ")
        print(
            f"{feed.name:24} {feed.state:12} {_when(feed.last_success_at):20}  {feed.error_streak:>6}  "
            + f"{feed.failed_entries:>6}  "
            + (reason or "-")
            + (f"  (next check {_when(feed.next_check_at)})" if feed.last_checked_at else "")
        )
    rt.close()
    return 0


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if ts else "never"


def _mask_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    prefix = "sqla+" if url.startswith("sqla+") else ""
    try:
        return prefix + make_url(url.removeprefix(prefix)).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown masked, never echoed
        return url.split("://", 1)[0] + "://****"


if __name__ == "__main__":
    raise SystemExit(main())

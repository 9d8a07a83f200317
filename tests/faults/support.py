"""Shared set-up and invariants of the fault tests: a seed site, a webhook whose URL carries
secrets, a redis-server of our own, and the checks every fault test ends with."""

from __future__ import annotations

import base64
import collections
import json
import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from tests.faults.plugin_tasks import PROBE
from tests.integration.helpers import SEEDS, expected_watches, write_config
from tests.support.receivers import WebhookReceiver
from tests.support.services import ROOT, NewswatchProcess, RedisServer, wait_until
from tests.support.site_server import SiteServer
from tests.support.store import sqlite_rows

PASSWORD, TOKEN = "S3cretPass", "T0kenValue"
SECRETS = (PASSWORD, TOKEN)
IDEMPOTENCY = "x-newswatch-idempotency"
FEED = "/feed.rss.xml"
ARTICLES = sorted(p.name for p in (SEEDS / "site" / "articles").glob("*.html"))
WORKER_ENV = {"PYTHONPATH": str(ROOT), "NEWSWATCH_TEST_ONLY_TASKS_MODULE": "tests.faults.plugin_tasks"}


def secret_url(hook: WebhookReceiver, path: str = "hook") -> str:
    """The receiver's Apprise URL with a password and a header token in it."""
    return f"json://user:{PASSWORD}@127.0.0.1:{hook.port}/{path}?-X-Token={TOKEN}"


def site_copy(tmp_path: Path) -> Path:
    """A copy of the seed site without the feed's 15-minute TTL (so the configured interval rules)."""
    root = tmp_path / "site"
    shutil.copytree(SEEDS / "site", root)
    feed = root / "feed.rss.xml"
    feed.write_text(re.sub(r"<ttl>\d+</ttl>", "", feed.read_text(encoding="utf-8")), encoding="utf-8")
    return root


@dataclass
class Stack:
    """One fault-test world: site, receiver(s), redis and a config; processes started on demand."""

    tmp: Path
    site: SiteServer
    hook: WebhookReceiver
    redis: RedisServer
    config: Path
    receivers: dict[str, WebhookReceiver] = field(default_factory=dict)
    processes: list[NewswatchProcess] = field(default_factory=list)
    exits: ExitStack = field(default_factory=ExitStack)

    @property
    def db_path(self) -> Path:
        return self.tmp / "data" / "newswatch.db"

    def start(
        self, *args: str, env: dict[str, str] | None = None, config: Path | None = None
    ) -> NewswatchProcess:
        """Start `newswatch <args>` (worker or beat) with the test-only tasks loaded."""
        proc = self.exits.enter_context(
            NewswatchProcess(config or self.config, *args, env={**WORKER_ENV, **(env or {})})
        )
        self.processes.append(proc)
        return proc

    def worker(
        self, concurrency: int = 2, name: str | None = None, env: dict[str, str] | None = None
    ) -> NewswatchProcess:
        """A worker; with `name`, a distinct Celery node name."""
        extra = ["--hostname", f"{name}@%h"] if name else []
        return self.start("worker", "--concurrency", str(concurrency), *extra, env=env)

    def logs(self) -> str:
        return "\n".join(p.log() for p in self.processes)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return sqlite_rows(self.db_path, sql, *params)

    def states(self) -> collections.Counter[str]:
        return collections.Counter(s for (s,) in self.query("SELECT state FROM deliveries"))

    def n_expected_deliveries(self) -> int:
        """Deliveries the seeds must produce once every entry is settled: one message per story
        that a watch matched (its first; follow-ups are held by the 30-minute minimum interval)
        per destination. `assert_delivered` checks the stories and messages themselves."""
        return self.n_alerted_stories() * len(self.receivers)

    def n_alerted_stories(self) -> int:
        """Stories with at least one article that a watch matched."""
        found = self.query(
            "SELECT COUNT(DISTINCT m.story_id) FROM story_members m"
            " JOIN alerts al ON al.article_id = m.article_id"
        )
        return int(found[0][0]) if found else 0  # no store yet

    def send_task(self, name: str, args: list[Any]) -> None:
        """Enqueue a task straight through the broker, as any producer would."""
        app = Celery("fault-test", broker=self.redis.url, set_as_current=False)
        app.conf.update(task_serializer="json", broker_connection_retry_on_startup=True)
        with app.connection_for_write() as conn:
            app.send_task(name, args=args, connection=conn)
        app.close()

    def probe(self, timeout: float = 30) -> bool:
        """True when a worker ran a freshly enqueued probe task within `timeout` seconds."""
        marker = self.tmp / f"probe-{uuid.uuid4().hex}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.send_task(PROBE, [str(marker)])
                break
            except Exception:  # noqa: BLE001 - the broker may still be coming back
                time.sleep(0.5)
        return wait_until(marker.exists, max(0.0, deadline - time.monotonic()))

    def wait_all_final(self, timeout: float, n: int | None = None) -> bool:
        """Every entry is processed (or failed), all expected deliveries exist and none is pending
        or sending (`sent` or `failed`: this only waits; `assert_delivered` then requires `sent`
        wherever the test broke nothing)."""
        def done() -> bool:
            want = self.n_expected_deliveries() if n is None else n  # grows as stories form
            states = self.states()
            entries = {s for (s,) in self.query("SELECT state FROM entries")}
            settled = bool(entries) and entries <= {"done", "failed"}  # nothing left to process
            return settled and sum(states.values()) >= want and set(states) <= {"sent", "failed"}

        return wait_until(done, timeout, interval=0.25)


@contextmanager
def fault_stack(
    tmp_path: Path,
    *,
    delivery: dict[str, Any] | None = None,
    service: dict[str, Any] | None = None,
    fetch: dict[str, Any] | None = None,
    appendonly: bool = False,
    hooks: int = 1,
) -> Iterator[Stack]:
    """Site, receiver, redis-server and a config with short ticks, leases and backoffs."""
    with ExitStack() as stack:
        site = stack.enter_context(SiteServer(site_copy(tmp_path)))
        hook = stack.enter_context(WebhookReceiver())
        receivers = {"hook": hook}
        for i in range(1, hooks):
            receivers[f"hook{i}"] = stack.enter_context(WebhookReceiver())
        channels = {name: [secret_url(r, name)] for name, r in receivers.items()}
        server = stack.enter_context(RedisServer(tmp_path / "redis", appendonly=appendonly))
        config = write_config(
            tmp_path,
            feeds=[
                {
                    "name": "seeds-http",
                    "url": f"{site.url}feed.rss.xml",
                    "interval": 10,
                    "allow_private": True,
                }
            ],
            channels=channels,
            extra={
                "service": {
                    "data_dir": str(tmp_path / "data"),
                    "tick_seconds": 1,
                    "broker_url": server.url,
                    **(service or {}),
                },
                "delivery": {"backoff_s": [1, 1], "lease_s": 8, "requeue_after_s": 2, **(delivery or {})},
                "fetch": {"per_host_spacing_s": 0, **(fetch or {})},
            },
        )
        world = Stack(tmp_path, site, hook, server, config, receivers)
        with world.exits:
            yield world


# --- invariants ------------------------------------------------------------------------------


def assert_delivered(
    world: Stack,
    max_per_key: int = 1,
    broken: tuple[str, ...] = (),
    timed_out: tuple[str, ...] = (),
    failed_pages: tuple[str, ...] = (),
) -> None:
    """Every alert (watch match) the seeds must raise was raised, every story they form has one
    message (`assert_one_message_per_story`), and every message has exactly one delivery per
    destination, which ended `sent` and was accepted (2xx) by its channel's receiver exactly once
    — or at most `max_per_key` times with the same idempotency key where a kill may land between
    the provider's answer and the commit. Nothing matched any other (watch, article), nor the
    article pages in `failed_pages` (entries that ended `failed`).

    `broken`: channels the test breaks on purpose; their deliveries must end `failed` with a
    reason instead. `timed_out`: broken channels whose receiver answers 200 after the sender gave
    up, so their receiver's count is not checked."""
    time.sleep(2)  # anything sent twice would arrive now
    expected = expected_watches()
    fired: dict[str, set[str]] = collections.defaultdict(set)
    for url, watch in world.query(
        "SELECT a.url, al.watch_id FROM alerts al JOIN articles a ON a.id = al.article_id"
    ):
        fired[Path(url).stem].add(watch)
    for stem in (Path(page).stem for page in failed_pages):
        assert not fired[stem], f"{stem}: a failed entry alerted {fired[stem]}"
        del expected[stem]
    for stem, (must, must_not) in expected.items():
        assert must <= fired[stem], f"{stem}: missing alerts {must - fired[stem]}"
        assert not (must_not & fired[stem]), f"{stem}: unmatched watches alerted {must_not & fired[stem]}"
    assert_one_message_per_story(world, len(expected) - len(failed_pages))
    messages = {m: (s, r) for m, s, r in world.query("SELECT id, story_id, revision FROM messages")}
    rows = world.query("SELECT message_id, destination, channel, state, last_error FROM deliveries")
    assert messages and rows, "no messages or no deliveries in the store"
    for channel, receiver in world.receivers.items():
        mine = [(m, d, s, e) for m, d, c, s, e in rows if c == channel]
        per_message = collections.Counter(m for m, *_ in mine)
        assert set(per_message) == set(messages) and set(per_message.values()) == {1}, (
            f"{channel}: not exactly one delivery per message: {per_message}"
        )
        accepted = collections.Counter(
            r.headers.get(IDEMPOTENCY) for r in receiver.requests if 200 <= r.status < 300
        )
        if channel in broken:
            for message_id, _, state, error in mine:
                assert state == "failed" and error, f"{channel}: message {message_id} is {state}, broken"
            assert channel in timed_out or not accepted, f"{channel}: a broken receiver accepted {accepted}"
            continue
        unsent = [(m, s, e) for m, _, s, e in mine if s != "sent"]
        assert not unsent, f"{channel}: deliveries not sent: {unsent[:5]}"
        want = {"newswatch-s{}-r{}-{}".format(*messages[m], d) for m, d, _, _ in mine}
        assert set(accepted) == want, (
            f"{channel}: accepted keys differ: extra {set(accepted) - want}, missing {want - set(accepted)}"
        )
        doubled = {k: n for k, n in accepted.items() if n > max_per_key}
        assert not doubled, f"{channel}: sent more than {max_per_key}×: {doubled}"
    assert not set(timed_out) - set(broken), "a timed-out channel is a broken one"


def assert_one_message_per_story(world: Stack, seeds: int) -> None:
    """Every story a watch matched has exactly one message, its first, sent for its first
    matching article and listing exactly the watches that article matched. The `seeds` seed
    pages served by one outlet are `seeds` stories, or down to two fewer: processed out of order,
    000 or 001 (Shoigu's visit) can join 003 (a later Shoigu story)."""
    stories = world.n_alerted_stories()
    assert seeds - 2 <= stories <= seeds, f"{stories} stories with alerts from {seeds} seed pages"
    found = world.query("SELECT story_id, kind, article_id, items_json FROM messages ORDER BY id")
    assert len(found) == stories and {k for _, k, _, _ in found} == {"first"}, found
    assert len({s for s, *_ in found}) == stories, "a story has two messages"
    for story_id, _, article_id, items in found:
        first = world.query(
            "SELECT MIN(m.id) FROM story_members m JOIN alerts al ON al.article_id = m.article_id"
            " WHERE m.story_id = ?", story_id)[0][0]
        ((trigger,),) = world.query("SELECT article_id FROM story_members WHERE id = ?", first)
        assert article_id == trigger, f"story {story_id}: message not from its first matching article"
        fired = {w for (w,) in world.query("SELECT watch_id FROM alerts WHERE article_id = ?", article_id)}
        assert {i["watch_id"] for i in json.loads(items)} == fired, f"story {story_id}: watches differ"


def redis_dump(server: RedisServer) -> list[bytes]:
    """Every key and value in the redis-server (lists, hashes, sets, zsets, strings), with
    base64-encoded message bodies decoded."""
    client: Any = redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=5)
    out: list[bytes] = []
    try:
        for key in client.scan_iter(count=500):
            kind = client.type(key).decode()
            values: list[bytes] = []
            if kind == "list":
                values = list(client.lrange(key, 0, -1))
            elif kind == "hash":
                values = [v for pair in client.hgetall(key).items() for v in pair]
            elif kind == "set":
                values = list(client.smembers(key))
            elif kind == "zset":
                values = list(client.zrange(key, 0, -1))
            elif kind == "string":
                values = [client.get(key) or b""]
            out.append(key)
            for value in values:
                out.append(value)
                out.extend(_decoded_bodies(value))
    finally:
        client.close()
    return out


def _decoded_bodies(value: bytes) -> list[bytes]:
    try:
        tree = json.loads(value)
    except ValueError:
        return []
    found: list[bytes] = []
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            body = node.get("body")
            if isinstance(body, str):
                try:
                    found.append(base64.b64decode(body, validate=True))
                except ValueError:
                    found.append(body.encode())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def message_args(dump: list[bytes]) -> list[Any]:
    """The args of every task message found in a redis dump."""
    args: list[Any] = []
    for blob in dump:
        try:
            tree = json.loads(blob)
        except ValueError:
            continue
        if isinstance(tree, list) and len(tree) == 3 and isinstance(tree[0], list):
            args.append(tree[0])
    return args


def assert_ids_only(dump: list[bytes]) -> int:
    """Every pipeline task message carries integer ids only (test-only tasks carry a marker path);
    returns how many messages were seen."""
    found = message_args(dump)
    for args in found:
        ids_only = all(isinstance(a, int) and not isinstance(a, bool) for a in args)
        assert ids_only or all(str(a).startswith(("/tmp", "/var")) for a in args), f"not ids only: {args}"
    return len(found)


def assert_no_secrets(world: Stack) -> None:
    """No secret in worker logs, in any Redis key or value, or anywhere in the store; task messages
    carry ids only."""
    logs = world.logs()
    for secret in SECRETS:
        assert secret not in logs, f"secret {secret[:3]}… in a worker log"
    dump = redis_dump(world.redis)
    for blob in dump:
        for secret in SECRETS:
            assert secret.encode() not in blob, f"secret {secret[:3]}… in Redis: {blob[:200]!r}"
    assert_ids_only(dump)
    if world.db_path.exists():
        conn = sqlite3.connect(world.db_path, timeout=30)
        try:
            text = "\n".join(conn.iterdump())
        finally:
            conn.close()
        for secret in SECRETS:
            assert secret not in text, f"secret {secret[:3]}… in the store"


def assert_healthy(world: Stack) -> None:
    """The standard closing checks: the workers take new work, no secret leaked anywhere."""
    assert world.probe(30), "no worker consumed a probe task within 30 s"
    assert_no_secrets(world)

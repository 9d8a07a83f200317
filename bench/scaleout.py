"""Scale-out run (issue 8, "Proven across hosts"): three worker hosts and a beat on one broker and
one store, all over a network link; one host is SIGKILLed mid-run; nothing is lost or doubled.

Network (needs root and `ip`; created here, removed on every exit path): a bridge with
10.91.47.1/24 in the root namespace, and network namespaces joined to it by veth pairs:
- `origin`: the feed and page servers (`tests/support/site_server.py`), one per address
  10.91.47.20 …, reachable only on this private link;
- `host1`, `host2`, `host3` (10.91.47.11-13): each runs `.venv/bin/newswatch worker
  --concurrency 2` with its own configuration copy and data directory, NEWSWATCH_BROKER_URL and
  NEWSWATCH_DATABASE_URL pointing over the link; host1 also runs the one `newswatch beat`.
In the root namespace, bound to the bridge address: a redis-server and a PostgreSQL cluster of
this run's own (initdb, trust for the /24 only), and the webhook receiver the alerts go to.
If the namespaces cannot be created the script says so and exits 2; it never falls back to
loopback.

Workload: `--feeds` feeds (interval 10 s) spread over the origin addresses, each starting with a
few items; article pages are the seed pages and the UTF-8 pages of ../shared/realworld/pages (read
from there, never copied in), made unique per copy (title, first paragraph, `<link
rel=canonical>`); every item carries the time it was added as its pubDate; a changer adds new
items to random feeds for `--feed-s` seconds. Every watch routes to the webhook channel.

The kill: `--kill-after-s` seconds into the run, once host3 is processing an article (celery
inspect; after 30 s any task will do, after 60 s none), every process in host3's namespace gets
SIGKILL (`ip netns pids`). host3 is not restarted: the survivors must finish its work through
the store's leases and the sweeper (the Redis visibility timeout is an hour, far beyond the run).

Figures (printed as `key: value`, merged into bench/results.json):
- scaleout_articles: articles published in the feeds during the run (the site's count).
- scaleout_alerts_expected: deliveries the store created for the webhook channel, each with the
  idempotency key worker/delivery.py sends (a story message's `message_key`, or the alert's key
  for rows without a message), i.e. what the receiver should accept.
- scaleout_alerts_delivered: distinct idempotency keys the receiver accepted that belong to
  those deliveries.
- scaleout_duplicates: requests whose idempotency key the receiver had already accepted (must be 0).
- scaleout_lost: published articles whose entry did not end `done` with an article (never stored,
  still `new`, `failed`, or stored as seen without processing), plus expected deliveries whose key
  never reached the receiver (must be 0). The parts are printed beside it.
- scaleout_recovery_s: from the SIGKILL until all work outstanding at that moment (entries not
  yet done, deliveries not yet sent, feeds claimed or being polled) has ended on the survivors
  (a claimed feed: polled again after the kill). Bounded below by
  the processing and poll leases (2 minutes) that a dead host's work waits out.
Extras: what host3 was running when killed, run and drain times, hosts' CPU seconds.

Run: `.venv/bin/python bench/scaleout.py` (about 4-5 minutes; `--no-results` to print only).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from tests.support.services import wait_until  # noqa: E402

SUBNET = "10.91.47"
HUB = f"{SUBNET}.1"
HOSTS = ("host1", "host2", "host3")
VICTIM = "host3"
BEAT_HOST = "host1"
ORIGIN_FIRST = 20  # origin addresses 10.91.47.20, .21, …
SEED_PAGES = sorted((ROOT / "seeds" / "site" / "articles").glob("*.html"))
REALWORLD_PAGES = ROOT.parent / "shared" / "realworld" / "pages"  # read from ../shared, never copied in
IDEMPOTENCY_HEADER = "x-newswatch-idempotency"
INITIAL_ITEMS = 3
FEED_KEEP = 20
CHANGE_EVERY_S = 2.0
DESTINATION_KEY = "scaleout-shared-destination-key-0123456789"


class CannotIsolate(Exception):
    """Network namespaces cannot be created here (not root, no `ip`, no kernel support)."""


@dataclass(frozen=True)
class Options:
    feeds: int
    origins: int
    feed_s: float
    new_per_s: float
    kill_after_s: float
    timeout_s: float
    concurrency: int
    write_results: bool


# --- the network: a bridge in the root namespace, one namespace per host ----------------------------


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


class Network:
    """Namespaces `nwso<pid>-<name>` on a bridge `nwsb<pid>`; `close` removes all of it, killing
    whatever still runs inside the namespaces first."""

    def __init__(self) -> None:
        tag = os.getpid()
        self.prefix = f"nwso{tag}-"
        self.bridge = f"nwsb{tag}"
        self.namespaces: dict[str, str] = {}  # name → netns name
        self._links: list[str] = []
        self._n = 0

    def open(self) -> Network:
        if os.geteuid() != 0:
            raise CannotIsolate("network namespaces need root (this process is not root)")
        if shutil.which("ip") is None:
            raise CannotIsolate("the `ip` command (iproute2) is not installed")
        _reap_stale()
        if f" {SUBNET}." in _ip("-4", "addr").stdout:
            raise CannotIsolate(f"{SUBNET}.0/24 is already in use on this machine (another run?)")
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            self._links.append(self.bridge)
            _ip("addr", "add", f"{HUB}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
        except subprocess.CalledProcessError as exc:
            raise CannotIsolate(f"cannot create a bridge: {exc.stderr.strip()}") from None
        return self

    def add(self, name: str, addresses: list[str]) -> str:
        """A namespace joined to the bridge with `addresses` on its link (and loopback up)."""
        netns = self.prefix + name
        self._n += 1
        outer, inner = f"nwsv{os.getpid()}{self._n}", f"nwsi{os.getpid()}{self._n}"
        try:
            _ip("netns", "add", netns)
            self.namespaces[name] = netns
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            self._links.append(outer)
            _ip("link", "set", inner, "netns", netns)
            _ip("link", "set", outer, "master", self.bridge)
            _ip("link", "set", outer, "up")
            _ip("-n", netns, "link", "set", "lo", "up")
            for address in addresses:
                _ip("-n", netns, "addr", "add", f"{address}/24", "dev", inner)
            _ip("-n", netns, "link", "set", inner, "up")
        except subprocess.CalledProcessError as exc:
            raise CannotIsolate(f"cannot create network namespace {netns}: {exc.stderr.strip()}") from None
        return netns

    def pids(self, name: str) -> list[int]:
        netns = self.namespaces.get(name)
        if netns is None:
            return []
        out = _ip("netns", "pids", netns, check=False).stdout
        return [int(p) for p in out.split()]

    def kill_all(self, name: str) -> list[int]:
        """SIGKILL every process in the namespace, until none is left (bounded); the pids killed."""
        killed: list[int] = []
        for _ in range(50):
            pids = self.pids(name)
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.1)
        return sorted(set(killed))

    def close(self) -> None:
        for name in list(self.namespaces):
            self.kill_all(name)
        for netns in self.namespaces.values():
            _ip("netns", "del", netns, check=False)
        for link in reversed(self._links):
            _ip("link", "del", link, check=False)
        self.namespaces.clear()
        self._links.clear()


def _reap_stale() -> None:
    """Remove namespaces and bridges left by an earlier run whose process is gone (kill -9)."""
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        m = re.match(r"(nwso(\d+)-\S+)", line)
        if m and not _alive(int(m.group(2))):
            for pid in _ip("netns", "pids", m.group(1), check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            _ip("netns", "del", m.group(1), check=False)
    for m in re.finditer(r"^\d+: (nwsb(\d+)):", _ip("link", "show", check=False).stdout, re.MULTILINE):
        if not _alive(int(m.group(2))):
            _ip("link", "del", m.group(1), check=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- servers in the root namespace, bound to the bridge address -------------------------------------


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


class Redis:
    def __init__(self, workdir: Path) -> None:
        self.workdir, self.port = workdir, free_port(HUB)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HUB}:{self.port}/0"

    def __enter__(self) -> Redis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run scripts/ensure-servers.sh")
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [binary, "--port", str(self.port), "--bind", HUB, "--protected-mode", "no", "--save", ""]
        args += ["--dir", str(self.workdir), "--maxmemory-policy", "noeviction", "--appendonly", "no"]
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        if not wait_until(lambda: port_open(HUB, self.port), 10):
            raise RuntimeError("redis-server did not start")
        return self

    def __exit__(self, *_: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Postgres:
    """A throw-away cluster listening on the bridge address, trusting the /24 (as tests/support's
    PostgresServer, which listens on loopback only)."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="newswatch-scaleout-pg-"))
        self.port = free_port(HUB)
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        initdb = found[-1] if found else shutil.which("initdb")
        if initdb is None:
            raise RuntimeError("PostgreSQL is not installed: run scripts/ensure-servers.sh")
        self.bindir = Path(initdb).parent
        self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@{HUB}:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, timeout=60)

    def __enter__(self) -> Postgres:
        shutil.chown(self.workdir, "postgres")
        data = self.workdir / "data"
        self._run(str(self.bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
        with open(data / "pg_hba.conf", "a", encoding="utf-8") as hba:
            hba.write(f"host all all {SUBNET}.0/24 trust\n")
        opts = (
            f"-p {self.port} -k {self.workdir} -c listen_addresses={HUB} -c fsync=off -c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            opts,
            "-l",
            f"{self.workdir}/pg.log",
            "-w",
            "start",
        )
        return self

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._run(
                str(self.bindir / "pg_ctl"), "-D", str(self.workdir / "data"), "-m", "immediate", "stop"
            )
        shutil.rmtree(self.workdir, ignore_errors=True)


class Receiver:
    """The webhook: accepts every POST with 200 and records its idempotency key and arrival time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.keys: list[tuple[str | None, float]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with receiver.lock:
                    receiver.keys.append((self.headers.get(IDEMPOTENCY_HEADER), time.time()))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self.server = ThreadingHTTPServer((HUB, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.1,), daemon=True)

    @property
    def apprise_url(self) -> str:
        return f"json://{HUB}:{self.server.server_address[1]}/hook"

    def snapshot(self) -> list[tuple[str | None, float]]:
        with self.lock:
            return list(self.keys)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- the origin: files written here, served from the origin namespace --------------------------------


def serve_origin(root: Path, addresses: list[str], port_file: Path) -> int:
    """Child mode (inside the origin namespace): one SiteServer per address until SIGTERM."""
    from tests.support.site_server import SiteServer

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(SiteServer(root, host=a)) for a in addresses]
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({s.host: s.port for s in servers}))
        os.replace(tmp, port_file)
        stop.wait()
    return 0


@dataclass
class Site:
    """Feed files and article pages under `root`; feed f lives on origin f % len(origins)."""

    root: Path
    feeds: int
    bases: list[str] = field(default_factory=list)  # http://addr:port/ per origin
    items: dict[int, list[int]] = field(default_factory=dict)
    dates: dict[int, str] = field(default_factory=dict)  # article → pubDate (when it was added)
    published: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def base(self, f: int) -> str:
        return self.bases[f % len(self.bases)]

    def build(self, bases: list[str]) -> None:
        self.bases = bases
        self.pages = article_pages()
        (self.root / "articles").mkdir(parents=True, exist_ok=True)
        for f in range(self.feeds):
            self.items[f] = []
            for _ in range(INITIAL_ITEMS):
                self.add(f, write_feed=False)
            self.write_feed(f)

    def add(self, f: int, *, write_feed: bool = True) -> None:
        with self.lock:
            n = self.published
            self.published += 1
        url = f"{self.base(f)}articles/a{n}.html"
        html = self.pages[n % len(self.pages)].replace("</title>", f" — {n}</title>", 1)
        html = re.sub(r"<link[^>]*canonical[^>]*>", f'<link rel="canonical" href="{url}">', html)
        html = re.sub(r"(<p[ >])", f"<p>Update number {n} from the newsroom.</p>\\1", html, count=1)
        _atomic_write(self.root / "articles" / f"a{n}.html", html)
        self.dates[n] = formatdate(time.time(), usegmt=True)
        self.items[f] = [n, *self.items[f]][:FEED_KEEP]
        if write_feed:
            self.write_feed(f)

    def write_feed(self, f: int) -> None:
        items = "".join(
            f"<item><title>Story {n}</title><link>{self.base(f)}articles/a{n}.html</link>"
            f'<guid isPermaLink="false">scaleout-{n}</guid><pubDate>{self.dates[n]}</pubDate>'
            f"<description>Summary {n}</description></item>"
            for n in self.items[f]
        )
        _atomic_write(
            self.root / f"feed{f}.xml",
            f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>feed{f}</title><link>{self.base(f)}</link><description>x</description>{items}"
            "</channel></rss>",
        )


def article_pages() -> list[str]:
    """The seed pages and the UTF-8 real-world pages (distinct stories, several languages)."""
    found = [*SEED_PAGES, *sorted(p for p in REALWORLD_PAGES.glob("*.html") if ".expected" not in p.name)]
    pages = []
    for path in found:
        with contextlib.suppress(UnicodeDecodeError):
            html = path.read_bytes().decode("utf-8")
            if "</title>" in html and re.search(r"<p[ >]", html):
                pages.append(html)
    return pages


def _atomic_write(path: Path, content: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(content, encoding="utf-8")
    os.replace(tmp, path)


class Changer(threading.Thread):
    """Adds `new_per_s` items per second to random feeds until `stop` or its deadline."""

    def __init__(self, site: Site, new_per_s: float, deadline: float) -> None:
        super().__init__(name="changer", daemon=True)
        self.site, self.new_per_s, self.deadline = site, new_per_s, deadline
        self.stop = threading.Event()
        self.rng = random.Random(47)

    def run(self) -> None:
        carry = 0.0
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            carry += self.new_per_s * CHANGE_EVERY_S
            for f in self.rng.sample(range(self.site.feeds), min(int(carry), self.site.feeds)):
                self.site.add(f)
            carry -= int(carry)
            self.stop.wait(CHANGE_EVERY_S)


# --- newswatch processes -----------------------------------------------------------------------------


def write_config(workdir: Path, site: Site, hook: str) -> Path:
    """One host's configuration (own data_dir; the shared destination key; no broker/store URL:
    those come from the environment, over the link)."""
    from tests.integration.helpers import shipped_watchlist

    watchlist = shipped_watchlist()
    for watch in watchlist["watches"]:
        watch["channels"] = ["hook"]
    feeds = [
        {
            "name": f"feed{f}",
            "url": f"{site.base(f)}feed{f}.xml",
            "interval": 10,
            "allow_hosts": [f"{SUBNET}.0/24"],
        }
        for f in range(site.feeds)
    ]
    tree: dict[str, Any] = {
        "service": {
            "data_dir": str(workdir / "data"),
            "tick_seconds": 2.0,
            "log_level": "WARNING",
            "destination_key": DESTINATION_KEY,
        },
        "fetch": {"per_host_concurrency": 4, "per_host_spacing_s": 0.05},
        "delivery": {"backoff_s": [2, 5, 10, 30], "requeue_after_s": 10, "lease_s": 20},
        "feeds": feeds,
        "channels": {"hook": [hook]},
        "default_channels": [],
        **watchlist,
    }
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "newswatch.yaml"
    path.write_text(yaml.safe_dump(tree, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def newswatch_command() -> list[str]:
    binary = ROOT / ".venv" / "bin" / "newswatch"
    return [str(binary)] if binary.exists() else [sys.executable, "-m", "worker.cli"]


@dataclass
class Proc:
    host: str
    role: str
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""


def start_in(netns: str, host: str, role: str, args: list[str], config: Path, env: dict[str, str]) -> Proc:
    log = config.parent / f"{role}.log"
    out = open(log, "ab")  # noqa: SIM115 - owned by the process
    cmd = ["ip", "netns", "exec", netns, *newswatch_command(), "--config", str(config), *args]
    proc = subprocess.Popen(
        cmd,
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=config.parent,
        env={**os.environ, **env},
        start_new_session=True,
    )
    return Proc(host, role, proc, log)


def ping(app: Any, node: str) -> bool:
    with contextlib.suppress(Exception):
        replies = app.control.ping(destination=[node], timeout=1.0) or []
        return any(node in reply for reply in replies)
    return False


def active_tasks(app: Any, node: str) -> list[str]:
    with contextlib.suppress(Exception):
        found = app.control.inspect(destination=[node], timeout=1.0).active() or {}
        return [f"{t.get('name')}{t.get('args')}" for t in found.get(node, [])]
    return []


# --- the store's view --------------------------------------------------------------------------------


def scalar(engine: Any, sql: str, **params: Any) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one() or 0)


def outstanding(engine: Any) -> int:
    return scalar(engine, "SELECT count(*) FROM entries WHERE state = 'new'") + scalar(
        engine, "SELECT count(*) FROM deliveries WHERE state NOT IN ('sent', 'failed')"
    )


@dataclass(frozen=True)
class InFlight:
    """Work outstanding when the host was killed."""

    at: float
    entries: tuple[int, ...]
    deliveries: tuple[int, ...]
    polls: tuple[int, ...]

    @staticmethod
    def take(engine: Any, at: float) -> InFlight:
        from sqlalchemy import text

        with engine.connect() as conn:
            e = conn.execute(text("SELECT id FROM entries WHERE state = 'new'")).scalars().all()
            d = (
                conn.execute(text("SELECT id FROM deliveries WHERE state NOT IN ('sent', 'failed')"))
                .scalars()
                .all()
            )
            # claimed (a poll queued or reserved somewhere) or being polled
            claimed = "SELECT id FROM feeds WHERE polling_until > :t OR lease_until > :t"
            p = conn.execute(text(claimed), {"t": at}).scalars().all()
        return InFlight(at, tuple(e), tuple(d), tuple(p))

    def left(self, engine: Any) -> int:
        from sqlalchemy import bindparam, text

        n = 0
        with engine.connect() as conn:
            if self.entries:
                q = text("SELECT count(*) FROM entries WHERE state = 'new' AND id IN :ids")
                n += conn.execute(
                    q.bindparams(bindparam("ids", expanding=True)), {"ids": list(self.entries)}
                ).scalar_one()
            if self.deliveries:
                q = text(
                    "SELECT count(*) FROM deliveries WHERE state NOT IN ('sent', 'failed') AND id IN :ids"
                )
                n += conn.execute(
                    q.bindparams(bindparam("ids", expanding=True)), {"ids": list(self.deliveries)}
                ).scalar_one()
            if self.polls:
                q = text("SELECT count(*) FROM feeds WHERE coalesce(last_checked_at, 0) < :t AND id IN :ids")
                n += conn.execute(
                    q.bindparams(bindparam("ids", expanding=True)), {"ids": list(self.polls), "t": self.at}
                ).scalar_one()
        return int(n)


def delivery_keys(engine: Any) -> list[str]:
    """The idempotency key the receiver should accept for each delivery on the webhook channel, as
    worker/delivery.py builds it: a story message's `worker.messages.message_key`, or
    `newswatch-<alert id>-<destination>` for a row without a message (and before messages)."""
    from sqlalchemy import inspect, text

    found = inspect(engine)
    columns = {c["name"] for c in found.get_columns("deliveries")}
    with engine.connect() as conn:
        if "message_id" in columns and found.has_table("messages"):
            from worker.messages import message_key

            rows = conn.execute(
                text(
                    "SELECT d.alert_id, d.destination, m.story_id, m.revision FROM deliveries d "
                    "LEFT JOIN messages m ON m.id = d.message_id WHERE d.channel = 'hook'"
                )
            ).all()
            return [
                message_key(r.story_id, r.revision, r.destination)
                if r.story_id is not None
                else f"newswatch-{r.alert_id}-{r.destination}"
                for r in rows
            ]
        rows = conn.execute(text("SELECT alert_id, destination FROM deliveries WHERE channel = 'hook'")).all()
    return [f"newswatch-{r.alert_id}-{r.destination}" for r in rows]


# --- the run -----------------------------------------------------------------------------------------


def start_origin(net: Network, tmp: Path, site: Site, addresses: list[str]) -> subprocess.Popen[bytes]:
    """The feed and page servers, inside the origin namespace; the site is built once they listen."""
    port_file = tmp / "origin-ports.json"
    log = open(tmp / "origin.log", "ab")  # noqa: SIM115 - owned by the process
    cmd = ["ip", "netns", "exec", net.namespaces["origin"], sys.executable, str(Path(__file__).resolve())]
    cmd += ["--serve-origin", str(site.root), ",".join(addresses), str(port_file)]
    origin = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    if not wait_until(port_file.exists, 30):
        raise RuntimeError(f"the origin did not start:\n{(tmp / 'origin.log').read_text()[-2000:]}")
    ports: dict[str, int] = json.loads(port_file.read_text())
    site.build([f"http://{a}:{ports[a]}/" for a in addresses])
    return origin


def start_hosts(
    net: Network, app: Any, configs: dict[str, Path], env: dict[str, str], concurrency: int
) -> list[Proc]:
    """One worker per host, each answering a ping before the next starts, then the beat."""
    procs: list[Proc] = []
    for host in HOSTS:
        node = f"{host}@scaleout"
        args = ["worker", "--concurrency", str(concurrency), "--hostname", node]
        p = start_in(net.namespaces[host], host, "worker", args, configs[host], env)
        procs.append(p)
        if not wait_until(lambda: ping(app, node), 120, interval=1.0):  # noqa: B023
            raise RuntimeError(f"{node} did not answer a ping:\n{p.tail()}")
    procs.append(start_in(net.namespaces[BEAT_HOST], BEAT_HOST, "beat", ["beat"], configs[BEAT_HOST], env))
    return procs


@dataclass(frozen=True)
class Kill:
    inflight: InFlight
    killed: list[int]
    running: list[str]  # the victim's active tasks just before
    outstanding: int  # entries not done + deliveries not sent, store-wide, at the kill


def kill_victim(net: Network, app: Any, engine: Any, procs: list[Proc]) -> Kill:
    """Once the victim runs a task (bounded wait), SIGKILL every process in its namespace."""
    victim = f"{VICTIM}@scaleout"
    running: list[str] = []

    def victim_processing() -> bool:
        running[:] = active_tasks(app, victim)
        return any("process_entry" in task for task in running)

    # an article being processed is the hardest case (its entry waits out the processing lease);
    # failing that within 30 s, whatever the victim is running
    if not wait_until(victim_processing, 30, interval=0.3):
        wait_until(lambda: victim_processing() or bool(running), 30, interval=0.3)
    busy = outstanding(engine)
    inflight = InFlight.take(engine, time.time())
    killed = net.kill_all(VICTIM)
    for p in procs:
        if p.host == VICTIM:
            p.proc.wait(10)
    return Kill(inflight, killed, running, busy)


def await_recovery(
    engine: Any, hook: Receiver, site: Site, procs: list[Proc], kill: Kill, changer: Changer, timeout_s: float
) -> float | None:
    """Wait (bounded) until the work outstanding at the kill has ended, then until the pipeline
    is quiet once the changer has stopped; returns the wall-clock time of the recovery."""
    recovered_at: float | None = None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        dead = [p for p in procs if p.host != VICTIM and p.proc.poll() is not None]
        if dead:
            raise RuntimeError(f"{dead[0].role} on {dead[0].host} exited:\n{dead[0].tail()}")
        if recovered_at is None and kill.inflight.left(engine) == 0:
            recovered_at = time.time()
            print(f"# recovered {recovered_at - kill.inflight.at:.1f} s after the kill", flush=True)
        if recovered_at is not None and not changer.is_alive() and quiet(engine, hook, site):
            break
        time.sleep(1.0)
    return recovered_at


def stop_survivors(procs: list[Proc], origin: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the survivors' process groups (warm shutdown), then the origin."""
    for p in procs:
        if p.host != VICTIM:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.proc.pid, signal.SIGTERM)
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.proc.wait(40)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(origin.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        origin.wait(10)


def run(opts: Options, net: Network, stack: contextlib.ExitStack) -> dict[str, Any]:
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="newswatch-scaleout-")))
    os.chmod(tmp, 0o755)
    origin_addrs = [f"{SUBNET}.{ORIGIN_FIRST + i}" for i in range(opts.origins)]
    net.add("origin", origin_addrs)
    for i, host in enumerate(HOSTS):
        net.add(host, [f"{SUBNET}.{11 + i}"])
    site = Site(tmp / "site", opts.feeds)
    origin = start_origin(net, tmp, site, origin_addrs)
    hook = stack.enter_context(Receiver())
    pg = stack.enter_context(Postgres())
    redis = stack.enter_context(Redis(tmp / "redis"))
    env = {"NEWSWATCH_BROKER_URL": redis.url, "NEWSWATCH_DATABASE_URL": pg.url}
    os.environ.update(env)  # this process reads the store and pings the workers over the link too
    configs = {h: write_config(tmp / h, site, hook.apprise_url) for h in HOSTS}

    from worker.celery_app import make_celery
    from worker.config import load_settings
    from worker.polling import sync_feeds
    from worker.runtime import Runtime
    from worker.schema import make_engine

    settings = load_settings(configs[BEAT_HOST])
    rt = Runtime(settings)
    sync_feeds(rt)  # tables and feed rows once, before the processes start (they race otherwise)
    rt.close()
    engine = make_engine(pg.url)
    stack.callback(engine.dispose)
    app = make_celery(settings)
    stack.callback(app.close)

    started = time.monotonic()
    procs = start_hosts(net, app, configs, env, opts.concurrency)
    ready_s = time.monotonic() - started
    print(f"# workers ready in {ready_s:.0f} s; feeds changing for {opts.feed_s:g} s", flush=True)
    t0 = time.monotonic()
    changer = Changer(site, opts.new_per_s, t0 + opts.feed_s)
    changer.start()
    stack.callback(changer.stop.set)
    time.sleep(opts.kill_after_s)
    kill = kill_victim(net, app, engine, procs)
    kill_s = time.monotonic() - t0
    print(f"# {kill_s:.0f} s in: SIGKILLed {len(kill.killed)} processes of {VICTIM} running {kill.running}")
    recovered_at = await_recovery(engine, hook, site, procs, kill, changer, opts.timeout_s)
    changer.stop.set()
    changer.join(10)
    drained = recovered_at is not None and quiet(engine, hook, site)
    total_s = time.monotonic() - t0
    cpu = {f"{p.host}/{p.role}": cpu_seconds(p.proc.pid) for p in procs if p.host != VICTIM}
    stop_survivors(procs, origin)
    results = measure(engine, site, hook, kill.inflight, recovered_at)
    results.update(
        {
            "scaleout_hosts": len(HOSTS),
            "scaleout_feeds": opts.feeds,
            "scaleout_origin_addresses": opts.origins,
            "scaleout_worker_concurrency": opts.concurrency,
            "scaleout_killed_host": VICTIM,
            "scaleout_killed_processes": len(kill.killed),
            "scaleout_killed_running": kill.running,
            "scaleout_outstanding_at_kill": kill.outstanding,
            "scaleout_kill_at_s": round(kill_s, 1),
            "scaleout_run_s": round(total_s, 1),
            "scaleout_workers_ready_s": round(ready_s, 1),
            "scaleout_drained": drained,
            "scaleout_survivor_cpu_s": {k: round(v, 1) for k, v in cpu.items()},
        }
    )
    return results


def quiet(engine: Any, hook: Receiver, site: Site) -> bool:
    """Every published article processed, nothing outstanding, and the receiver has everything
    the store says it should have."""
    if len(processed_articles(engine)) < site.published or outstanding(engine):
        return False
    received = {k for k, _ in hook.snapshot()}
    return set(delivery_keys(engine)) <= received


def processed_articles(engine: Any) -> set[str]:
    """Entry keys that ended `done` with an article (not stored as seen without processing)."""
    from sqlalchemy import text

    with engine.connect() as conn:
        keys = conn.execute(
            text("SELECT key FROM entries WHERE state = 'done' AND article_id IS NOT NULL")
        ).scalars()
        return set(keys)


def cpu_seconds(pid: int) -> float:
    import psutil

    total = 0.0
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for p in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
    return total


def measure(
    engine: Any, site: Site, hook: Receiver, inflight: InFlight, recovered_at: float | None
) -> dict[str, Any]:
    from sqlalchemy import text

    with engine.connect() as conn:
        states = dict(conn.execute(text("SELECT key, state FROM entries")).all())
    processed = processed_articles(engine)
    published = site.published
    not_done = [n for n in range(published) if f"guid:scaleout-{n}" not in processed]
    never_stored = sum(1 for n in not_done if f"guid:scaleout-{n}" not in states)
    failed = sum(1 for n in not_done if states.get(f"guid:scaleout-{n}") == "failed")
    expected = set(delivery_keys(engine))
    accepted: set[str] = set()
    duplicates = without_key = 0
    for key, _ in hook.snapshot():
        if key is None:
            without_key += 1
        elif key in accepted:
            duplicates += 1
        else:
            accepted.add(key)
    missing = expected - accepted
    return {
        "scaleout_articles": published,
        "scaleout_alerts_expected": len(expected),
        "scaleout_alerts_delivered": len(expected & accepted),
        "scaleout_duplicates": duplicates,
        "scaleout_lost": len(not_done) + len(missing),
        "scaleout_recovery_s": round(recovered_at - inflight.at, 1) if recovered_at else None,
        "scaleout_lost_articles": len(not_done),
        "scaleout_lost_articles_never_stored": never_stored,
        "scaleout_lost_articles_failed": failed,
        "scaleout_lost_alerts": len(missing),
        "scaleout_unexpected_keys": len(accepted - expected),
        "scaleout_requests_without_key": without_key,
        "scaleout_articles_stored": scalar(engine, "SELECT count(*) FROM articles"),
        "scaleout_alerts_in_store": scalar(engine, "SELECT count(*) FROM alerts"),
        "scaleout_inflight_at_kill": {
            "entries": len(inflight.entries),
            "deliveries": len(inflight.deliveries),
            "polls": len(inflight.polls),
        },
        "scaleout_entry_attempts_max": scalar(engine, "SELECT max(coalesce(attempts, 0)) FROM entries"),
    }


def parse_args(argv: list[str] | None = None) -> Options | tuple[Path, list[str], Path]:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--feeds", type=int, default=24)
    p.add_argument("--origins", type=int, default=6, help="origin addresses (feed and page servers), ≤ 50")
    p.add_argument("--feed-s", type=float, default=80.0, help="seconds during which new items appear")
    p.add_argument("--new-per-s", type=float, default=1.5, help="new feed items per second")
    p.add_argument("--kill-after-s", type=float, default=25.0)
    p.add_argument("--timeout-s", type=float, default=210.0, help="bound on recovery + drain after the kill")
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--no-results", action="store_true", help="print only; leave bench/results.json alone")
    p.add_argument(
        "--serve-origin", nargs=3, metavar=("ROOT", "ADDRESSES", "PORT_FILE"), help=argparse.SUPPRESS
    )
    a = p.parse_args(argv)
    if a.serve_origin:
        root, addrs, port_file = a.serve_origin
        return Path(root), addrs.split(","), Path(port_file)
    if not (1 <= a.origins <= 50 and a.feeds >= a.origins and a.concurrency >= 1):
        p.error("need 1 ≤ origins ≤ 50, feeds ≥ origins, concurrency ≥ 1")
    return Options(
        a.feeds,
        a.origins,
        a.feed_s,
        a.new_per_s,
        a.kill_after_s,
        a.timeout_s,
        a.concurrency,
        not a.no_results,
    )


def main(argv: list[str] | None = None) -> int:
    parsed = parse_args(argv)
    if isinstance(parsed, tuple):
        return serve_origin(*parsed)
    opts = parsed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the finally below cleans up
    print(
        f"# scaleout: {len(HOSTS)} worker hosts x{opts.concurrency} + beat in network namespaces, "
        f"{opts.feeds} feeds on {opts.origins} origin addresses, Redis and PostgreSQL over the link; "
        f"{VICTIM} SIGKILLed after {opts.kill_after_s:g} s",
        flush=True,
    )
    net = Network()
    try:
        try:
            net.open()
        except CannotIsolate as exc:
            print(
                f"scaleout: cannot create network namespaces here: {exc}; not running (no fallback)",
                file=sys.stderr,
            )
            return 2
        with contextlib.ExitStack() as stack:
            try:
                results = run(opts, net, stack)
            except CannotIsolate as exc:
                print(
                    f"scaleout: cannot create network namespaces here: {exc}; not running (no fallback)",
                    file=sys.stderr,
                )
                return 2
            finally:
                for name in list(net.namespaces):  # processes first, then the servers they use
                    net.kill_all(name)
    finally:
        net.close()
    for key, value in results.items():
        print(f"{key}: {value}")
    if opts.write_results:
        out = ROOT / "bench" / "results.json"
        merged = json.loads(out.read_text()) if out.exists() else {}
        out.write_text(json.dumps({**merged, **results}, indent=2, sort_keys=True) + "\n")
    broken = (
        results["scaleout_duplicates"] or results["scaleout_lost"] or results["scaleout_recovery_s"] is None
    )
    if broken:
        print("# scaleout FAILED: duplicates, lost work or no recovery (see above)", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())

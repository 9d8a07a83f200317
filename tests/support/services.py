"""Real servers and processes for tests: redis-server, a private PostgreSQL cluster and newswatch
Celery processes, each on a free loopback port, each stopped when its context ends."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class RedisServer:
    """A redis-server of our own: no persistence unless `appendonly`, noeviction."""

    def __init__(self, workdir: Path, *, appendonly: bool = False) -> None:
        self.workdir, self.appendonly = workdir, appendonly
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed: run scripts/ensure-servers.sh"
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(self.workdir),
            "--maxmemory-policy",
            "noeviction",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "always",
        ]
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        assert wait_until(lambda: _port_open(self.port), 10), "redis-server did not start"
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


class PostgresServer:
    """A throw-away PostgreSQL cluster (initdb + pg_ctl) on a free port, in a private temporary
    directory (as root, the cluster runs as the `postgres` user, who cannot enter pytest's
    root-only temporary directories)."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="newswatch-pg-"))
        self.port = free_port()
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        assert found or shutil.which("initdb"), "PostgreSQL is not installed: run scripts/ensure-servers.sh"
        self.bindir = Path(found[-1]).parent if found else Path(str(shutil.which("initdb"))).parent
        self._as: list[str] = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, timeout=60)

    def __enter__(self) -> PostgresServer:
        if self._as:
            shutil.chown(self.workdir, "postgres")
        data = str(self.workdir / "data")
        self._run(str(self.bindir / "initdb"), "-D", data, "-A", "trust", "-U", "postgres")
        opts = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bindir / "pg_ctl"), "-D", data, "-o", opts, "-l", f"{self.workdir}/pg.log", "-w", "start"
        )
        return self

    def __exit__(self, *_: object) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.workdir / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.workdir, ignore_errors=True)


class NewswatchProcess:
    """`newswatch <command>` as a real subprocess (Celery worker or beat), logging to a file."""

    def __init__(self, config: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.config, self.args = config, args
        self.log_path = config.parent / f"{args[0]}-{time.monotonic_ns()}.log"
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> NewswatchProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "--config", str(self.config), *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.config.parent,
            env=self.env,
            start_new_session=True,
        )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40, *, group: bool = True) -> bool:
        """Send `sig` and wait up to `timeout` seconds; then SIGKILL the whole process group.

        With `group` (the default) `sig` goes to the whole process group, pool children included,
        which kills them mid-task; with `group=False` only to the main process, as `docker stop`
        or a supervisor does, so a Celery worker's soft shutdown can finish or requeue its work.
        Returns True when the process exited within `timeout` (or had already exited)."""
        if self.proc is None or self.proc.poll() is not None:
            return True
        if group:
            os.killpg(self.proc.pid, sig)
        else:
            os.kill(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            return False

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        if exc_type is not None:
            sys.stderr.write(f"--- {self.log_path.name} ---\n{self.log()[-6000:]}\n")

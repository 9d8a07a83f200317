"""`newswatch serve` (the read-only dashboard) and `newswatch health` (container healthchecks)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from worker.config import Settings, exposure_problem, is_loopback

ROLES = ("worker", "beat", "serve")


def add_parsers(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Register `serve` and `health` through the main parser's `command(name, help)`."""
    serve = command("serve", "the read-only dashboard, /metrics, /healthz and /readyz")
    serve.add_argument("--bind", default=None, help="address to listen on (default: serve.bind, 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default: serve.port, 8080)")
    serve.set_defaults(command=_cmd_serve)
    health = command("health", "exit 0 when this role is alive (for container healthchecks)")
    health.add_argument("--role", choices=ROLES, required=True)
    health.add_argument("--max-age", type=float, default=None,
                        help="seconds a heartbeat may be old (worker: 60; beat: serve.tick_stale_s)")
    health.set_defaults(command=_cmd_health)


def _cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from worker.metrics import metrics_dir
    from worker.serve.app import create_app
    from worker.serve.readonly import readonly_engine

    bind = args.bind or settings.serve.bind
    port = args.port or settings.serve.port
    problem = exposure_problem(settings.serve, bind)
    if problem:
        print(f"newswatch: cannot serve: {problem}", file=sys.stderr)
        return 2
    engine = readonly_engine(settings.database_url)
    try:
        app = create_app(settings, engine, metrics_dir(settings.service.data_dir))
    except Exception as exc:  # noqa: BLE001 - the store cannot be opened: say so, no traceback
        print(f"newswatch: cannot serve: the store cannot be read ({type(exc).__name__}: {exc}); "
              "has a worker run on it yet?", file=sys.stderr)
        return 2
    print(f"newswatch: serving on http://{bind}:{port}/ (read-only)", flush=True)
    uvicorn.run(app, host=bind, port=port, log_level=settings.service.log_level.lower(), access_log=False)
    engine.dispose()
    return 0


def _cmd_health(settings: Settings, args: argparse.Namespace) -> int:
    check: dict[str, Callable[[Settings, float | None], tuple[bool, str]]] = {
        "worker": _worker_alive, "beat": _beat_alive, "serve": _serve_alive,
    }
    ok, detail = check[args.role](settings, args.max_age)
    print(f"newswatch: {args.role} {'healthy' if ok else 'UNHEALTHY'}: {detail}")
    return 0 if ok else 1


def _worker_alive(settings: Settings, max_age: float | None) -> tuple[bool, str]:
    from worker.heartbeat import WORKER_STALE_S, worker_heartbeat_age, worker_heartbeat_path

    limit = max_age or WORKER_STALE_S
    age = worker_heartbeat_age(settings.service.data_dir)
    if age is None:
        return False, f"no heartbeat at {worker_heartbeat_path(settings.service.data_dir)}"
    return age < limit, f"heartbeat {age:.0f} s old (limit {limit:.0f} s)"


def _beat_alive(settings: Settings, max_age: float | None) -> tuple[bool, str]:
    from worker.heartbeat import last_tick
    from worker.serve.readonly import readonly_engine

    limit = max_age or settings.serve.tick_stale_s
    engine = readonly_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            tick = last_tick(conn)
    except Exception as exc:  # noqa: BLE001 - unreachable store: unhealthy, with the reason
        return False, f"store unreachable ({type(exc).__name__})"
    finally:
        engine.dispose()
    if tick is None:
        return False, "no scheduler tick recorded yet"
    age = time.time() - tick
    return age < limit, f"last scheduler tick {age:.0f} s ago (limit {limit:.0f} s)"


def _serve_alive(settings: Settings, _max_age: float | None) -> tuple[bool, str]:
    import httpx

    host = settings.serve.bind if is_loopback(settings.serve.bind) else "127.0.0.1"
    url = f"http://{'[' + host + ']' if ':' in host else host}:{settings.serve.port}/healthz"
    try:
        response: Any = httpx.get(url, timeout=3.0)
    except httpx.HTTPError as exc:
        return False, f"{url}: {type(exc).__name__}"
    return response.status_code == 200, f"{url}: HTTP {response.status_code}"

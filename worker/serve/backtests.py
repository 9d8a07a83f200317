"""The backtest reports `newswatch backtest` keeps under `service.data_dir` (worker/backtest.py),
as the dashboard lists and serves them. A name is served only when it is spelled like a report
and a report of that name is in the folder's listing, and the file read must sit in the folder
itself (no symbolic link out of it): a request cannot reach any other file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

NAME = re.compile(r"^\d{8}T\d{6}Z(?:-\d+)?$")
LISTED = 200  # newest reports the page shows (all stay served by name)


def report_names(folder: Path) -> list[str]:
    """The names of the reports in `folder` (a `.json` summary named like a report), newest first."""
    if not folder.is_dir():
        return []
    names = {p.stem for p in folder.iterdir() if p.suffix == ".json" and NAME.match(p.stem)}
    return sorted(names, reverse=True)


def list_reports(folder: Path, limit: int = LISTED) -> list[dict[str, Any]]:
    """The newest readable reports: name, when, candidate file, `--since` and its start, articles,
    every watch's counts (articles before → after, new, lost) and those it changes."""
    out = []
    for name in report_names(folder)[:limit]:
        try:
            report = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # unreadable, or still being written
        if not isinstance(report, dict):
            continue
        watches = [w for w in report.get("watches", []) if isinstance(w, dict)]
        out.append({"name": name, "created_at": report.get("created_at"), "since": report.get("since"),
                    "window": report.get("window"), "candidate": report.get("candidate", ""),
                    "articles": report.get("articles", 0), "watches": watches,
                    "changed": [w for w in watches if w.get("new") or w.get("lost")],
                    "html": (folder / f"{name}.html").is_file()})
    return out


def report_html(folder: Path, name: str) -> str | None:
    """The HTML of report `name`, or None when there is no such report."""
    if not NAME.match(name) or name not in report_names(folder):
        return None
    path = folder / f"{name}.html"
    if not path.is_file() or path.resolve().parent != folder.resolve():
        return None
    return path.read_text(encoding="utf-8")

"""The backtest reports `newswatch backtest` keeps under `service.data_dir` (worker/backtest.py),
as the dashboard lists and serves them. Only files named like a report and present in the
folder are ever read, so a request cannot reach any other file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

NAME = re.compile(r"^\d{8}T\d{6}Z(?:-\d+)?$")


def list_reports(folder: Path) -> list[dict[str, Any]]:
    """Every readable report, newest first: its name, when, candidate file, since, articles and
    the watches it changes (new or lost articles)."""
    out = []
    for path in sorted(folder.glob("*.json"), reverse=True) if folder.is_dir() else []:
        if not NAME.match(path.stem):
            continue
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        changed = [w for w in report.get("watches", []) if w.get("new") or w.get("lost")]
        out.append({"name": path.stem, "created_at": report.get("created_at"), "since": report.get("since"),
                    "candidate": report.get("candidate", ""), "articles": report.get("articles", 0),
                    "changed": changed, "html": (folder / f"{path.stem}.html").is_file()})
    return out


def report_html(folder: Path, name: str) -> str | None:
    """The HTML of report `name`, or None when there is no such report."""
    if not NAME.match(name) or name not in {r["name"] for r in list_reports(folder)}:
        return None
    path = folder / f"{name}.html"
    return path.read_text(encoding="utf-8") if path.is_file() else None

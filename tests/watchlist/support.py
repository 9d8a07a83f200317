"""Watchlist edits the reload tests apply to a configuration file: one that adds a watch only
the edited file has, and one whose example fails (a file `newswatch check` rejects)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

NEW_WATCH = "zeppelins"
# A headline only the edited watchlist alerts on (no shipped watch fires on it).
NEW_WATCH_TEXT = "A zeppelin crossed the harbour\nThe airship zeppelin landed near the old docks at noon."


def edit_config(config: Path, change: str) -> None:
    """Rewrite `config` with `change` applied: `add` (a concept and a watch whose example
    passes), `broken` (the same watch with an example that fails) or `unparsable` (not YAML)."""
    if change == "unparsable":
        config.write_text("watches: [unclosed\n", encoding="utf-8")
        return
    tree: dict[str, Any] = yaml.safe_load(config.read_text(encoding="utf-8"))
    tree["concepts"] = {**tree.get("concepts", {}), "zeppelin": {"terms": ["zeppelin", "airship"]}}
    should = ["A zeppelin over the city\nThe zeppelin landed."]
    if change == "broken":
        should.append("Nothing to see here\nA quiet day at the harbour.")  # cannot match
    watches = [w for w in tree["watches"] if w["id"] != NEW_WATCH]
    watches.append({"id": NEW_WATCH, "title": "Zeppelins", "rule": "zeppelin",
                    "examples": {"should_match": should, "should_not_match": ["A quiet harbour."]}})
    tree["watches"] = watches
    config.write_text(yaml.safe_dump(tree, allow_unicode=True, sort_keys=False), encoding="utf-8")

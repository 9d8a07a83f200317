"""Checks shared by the hostile-input tests: the store stays consistent whatever the input."""

from __future__ import annotations

from sqlalchemy import select

from worker.runtime import Runtime
from worker.schema import alerts, articles, deliveries, entries


def assert_consistent(rt: Runtime) -> None:
    """Nothing half-stored: every done entry has its article, every article came from an entry,
    every alert and delivery points at a stored parent."""
    with rt.engine.connect() as conn:
        rows = conn.execute(select(entries.c.state, entries.c.article_id)).all()
        article_ids = set(conn.execute(select(articles.c.id)).scalars())
        alert_rows = conn.execute(select(alerts.c.id, alerts.c.article_id)).all()
        delivery_alerts = set(conn.execute(select(deliveries.c.alert_id)).scalars())
    for state, article_id in rows:
        assert state in ("new", "done")
        assert (state == "done") == (article_id is not None)
        assert article_id is None or article_id in article_ids
    assert article_ids <= {a for _, a in rows}
    assert all(a in article_ids for _, a in alert_rows)
    assert delivery_alerts <= {i for i, _ in alert_rows}


def stored_text(rt: Runtime) -> str:
    """Every stored entry and article text, concatenated (to look for leaked content)."""
    with rt.engine.connect() as conn:
        parts = [
            *(f"{r.title}\n{r.summary}\n{r.content}" for r in conn.execute(select(entries))),
            *(f"{r.title}\n{r.text}" for r in conn.execute(select(articles))),
        ]
    return "\n".join(parts)

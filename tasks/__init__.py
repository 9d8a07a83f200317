"""Celery tasks: thin wrappers that take ids, call one pipeline function and enqueue the next step.

Every task is safe to run twice: the pipeline functions it calls are idempotent by construction
(unique keys and conditional claims in the store). Task names are explicit and stable, so queued
messages survive refactors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.pipeline import register_pipeline_tasks

if TYPE_CHECKING:
    from worker.celery_app import NewswatchCelery


def register_tasks(app: NewswatchCelery) -> None:
    """Register every newswatch task on `app`."""
    register_pipeline_tasks(app)

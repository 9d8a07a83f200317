"""Digest periods: pure decisions about when a channel's collected story messages go out.

A channel with `messages.digest.<channel>` gets no story messages one by one; they are collected
per digest period and sent as one message when the period is due. Quiet hours use the same
shape: what is held during the window goes out at the window end as one digest. Nothing here
knows about Celery or the store; times are Unix seconds and local times use an IANA zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

_DAILY = re.compile(r"^daily at ([01]\d|2[0-3]):([0-5]\d)$")


class Cadence(StrEnum):
    """How often a digest goes out."""

    HOURLY = "hourly"
    DAILY = "daily"


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed digest schedule: `hourly`, or `daily at HH:MM` in `timezone`."""

    cadence: Cadence
    timezone: str = "UTC"
    hour: int = 0
    minute: int = 0


def parse_schedule(text: str, timezone: str = "UTC") -> Schedule:
    """Parse `hourly` or `daily at 08:00`; ValueError (naming what is accepted) otherwise."""
    value = text.strip().lower()
    if value == Cadence.HOURLY:
        return Schedule(Cadence.HOURLY, timezone)
    m = _DAILY.match(value)
    if m is None:
        raise ValueError(f"unknown digest schedule {text!r} (use 'hourly' or 'daily at HH:MM')")
    return Schedule(Cadence.DAILY, timezone, int(m.group(1)), int(m.group(2)))


def _due_local(schedule: Schedule, local: datetime) -> datetime:
    """The first due instant strictly after local time `local`, as an aware datetime."""
    zone = ZoneInfo(schedule.timezone)
    if schedule.cadence is Cadence.HOURLY:
        # Hours are counted in UTC so a DST change neither repeats nor skips a digest.
        utc = local.astimezone(ZoneInfo("UTC")).replace(minute=0, second=0, microsecond=0)
        return (utc + timedelta(hours=1)).astimezone(zone)
    day = local.date()
    for offset in (0, 1, 2):
        d = day + timedelta(days=offset)
        due = _wall(d.year, d.month, d.day, schedule.hour, schedule.minute, zone)
        if due > local:
            return due
    raise AssertionError("unreachable: a daily time recurs within two days")


def _wall(year: int, month: int, day: int, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    """A wall-clock time in `zone`; a time skipped by DST moves forward to the first real instant."""
    naive = datetime(year, month, day, hour, minute, tzinfo=zone)
    return datetime.fromtimestamp(naive.timestamp(), zone)


def due_after(schedule: Schedule, now: float) -> float:
    """The Unix time the digest collecting items at `now` is sent (strictly after `now`)."""
    local = datetime.fromtimestamp(now, ZoneInfo(schedule.timezone))
    return _due_local(schedule, local).timestamp()


def period_key(channel: str, schedule: Schedule, now: float) -> str:
    """The idempotency key of the digest an item arriving at `now` belongs to: one per
    (channel, period), named by the period's due time in UTC, so two workers agree on it."""
    due = datetime.fromtimestamp(due_after(schedule, now), ZoneInfo("UTC"))
    return f"digest:{channel}:{schedule.cadence}:{due:%Y-%m-%dT%H:%MZ}"


def quiet_key(channel: str, window_end: float) -> str:
    """The idempotency key of the digest holding a channel's messages until `window_end`."""
    end = datetime.fromtimestamp(window_end, ZoneInfo("UTC"))
    return f"quiet:{channel}:{end:%Y-%m-%dT%H:%MZ}"


def is_due(due_at: float, now: float) -> bool:
    """Whether a digest due at `due_at` should be flushed at `now`."""
    return now >= due_at


def label_of(key: str) -> str:
    """How a digest names itself in its message, from its key (`period_key` or `quiet_key`)."""
    parts = key.split(":")
    if parts[0] == "quiet":
        return "Held during quiet hours"
    cadence = parts[2] if len(parts) > 2 else ""
    return {Cadence.HOURLY.value: "Hourly digest", Cadence.DAILY.value: "Daily digest"}.get(cadence, "Digest")

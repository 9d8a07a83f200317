"""Pure digest decisions: schedules, due times across DST, period keys (worker/digests.py)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from worker.digests import Cadence, due_after, is_due, parse_schedule, period_key, quiet_key


def _t(text: str, zone: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def _local(ts: float, zone: str) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def test_schedules_parse_and_bad_ones_are_refused() -> None:
    assert parse_schedule("hourly").cadence is Cadence.HOURLY
    daily = parse_schedule("daily at 08:00", "Europe/London")
    assert (daily.cadence, daily.hour, daily.minute) == (Cadence.DAILY, 8, 0)
    for bad in ("weekly", "daily at 25:00", "daily 08:00"):
        with pytest.raises(ValueError, match="hourly"):
            parse_schedule(bad)


@pytest.mark.parametrize(("now", "expected"), [
    ("2026-03-28 09:00", "2026-03-29 08:00 BST"),  # the night the clocks go forward
    ("2026-10-24 09:00", "2026-10-25 08:00 GMT"),  # the night they go back
    ("2026-06-01 07:59", "2026-06-01 08:00 BST"),
    ("2026-06-01 08:00", "2026-06-02 08:00 BST"),  # due exactly now: that digest is this one
])
def test_daily_due_time_is_local_wall_clock_across_dst(now: str, expected: str) -> None:
    schedule = parse_schedule("daily at 08:00", "Europe/London")
    assert _local(due_after(schedule, _t(now, "Europe/London")), "Europe/London") == expected


def test_daily_due_time_in_a_zone_without_dst() -> None:
    schedule = parse_schedule("daily at 08:00", "Asia/Riyadh")
    due = due_after(schedule, _t("2026-03-29 07:30", "Asia/Riyadh"))
    assert _local(due, "Asia/Riyadh") == "2026-03-29 08:00 +03"
    assert due == _t("2026-03-29 05:00", "UTC")


def test_a_daily_time_skipped_by_dst_moves_forward_not_a_day_late() -> None:
    schedule = parse_schedule("daily at 01:30", "Europe/London")  # 01:00-02:00 does not exist on 29 March
    due = due_after(schedule, _t("2026-03-28 12:00", "Europe/London"))
    assert _local(due, "Europe/London") == "2026-03-29 02:30 BST"


def test_hourly_digests_neither_repeat_nor_skip_when_clocks_go_back() -> None:
    schedule = parse_schedule("hourly", "Europe/London")
    start = _t("2026-10-24 23:00", "UTC")  # 00:00 BST; the clocks go back at 01:00 UTC
    keys = [period_key("email", schedule, start + 600 + 3600 * i) for i in range(4)]
    assert len(set(keys)) == 4
    dues = [due_after(schedule, start + 600 + 3600 * i) for i in range(4)]
    assert [b - a for a, b in zip(dues, dues[1:], strict=False)] == [3600.0] * 3


def test_one_period_key_per_channel_and_period() -> None:
    schedule = parse_schedule("daily at 08:00", "Europe/London")
    a = period_key("email", schedule, _t("2026-06-01 08:01", "Europe/London"))
    b = period_key("email", schedule, _t("2026-06-02 07:59", "Europe/London"))
    c = period_key("email", schedule, _t("2026-06-02 08:00", "Europe/London"))
    assert a == b == "digest:email:daily:2026-06-02T07:00Z"
    assert c != a
    assert period_key("chat", schedule, _t("2026-06-01 08:01", "Europe/London")) != a


def test_quiet_hours_hold_into_one_digest_per_window_end() -> None:
    end = _t("2026-06-02 07:00", "Europe/London")
    assert quiet_key("chat", end) == quiet_key("chat", end) == "quiet:chat:2026-06-02T06:00Z"
    assert not is_due(end, end - 1)
    assert is_due(end, end)

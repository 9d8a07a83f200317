"""The follow-up policy (`worker.messages.decide`, pure) and the message/backfill settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from worker.config import FeedSpec, MessagesSpec, Settings, backfill_seconds, format_errors
from worker.messages import Item, Kind, Sent, apply_cooldown, decide

POLICY = MessagesSpec(followup_min_interval_s=600, followup_daily_cap=2)
T0 = 1_700_000_000.0


def item(watch: str, score: float = 3.0) -> Item:
    return Item(watch, watch.title(), score, f"⟦{watch}⟧", "asserted", ("desk",))


def sent(kind: str, items: list[Item], outlets: int, langs: tuple[str, ...] = ("ar",),
         at: float = T0) -> Sent:
    return Sent(kind, tuple(items), tuple(f"o{i}" for i in range(outlets)), langs, at)


FIRST = sent("first", [item("iran"), item("russia")], 1)


def test_first_article_that_matches_is_the_first_message_and_no_match_is_none() -> None:
    assert decide([item("iran")], ["o0"], ["ar"], [], T0, POLICY).kind is Kind.FIRST
    assert decide([], ["o0"], ["ar"], [], T0, POLICY).kind is None


@pytest.mark.parametrize(
    ("items", "outlets", "langs", "change"),
    [
        ([item("iran")], 2, ["ar"], "outlets 1 → 2"),  # crossing 2
        ([item("iran")], 1, ["ar", "en"], "new language: en"),
        ([item("drones")], 1, ["ar"], "newly matching: Drones"),
        ([item("iran", 4.5)], 1, ["ar"], "higher score: Iran 3.00 → 4.50"),  # 1.5 × 3.0
    ],
)
def test_a_material_change_after_the_interval_is_a_followup(
    items: list[Item], outlets: int, langs: list[str], change: str
) -> None:
    names = [f"o{i}" for i in range(outlets)]
    got = decide(items, names, langs, [FIRST], T0 + 601, POLICY)
    assert got.kind is Kind.FOLLOWUP and got.reason == change
    held = decide(items, names, langs, [FIRST], T0 + 599, POLICY)  # the minimum interval
    assert held.kind is None and "held" in held.reason


@pytest.mark.parametrize(
    ("items", "outlets", "langs"),
    [
        ([item("iran")], 1, ["ar"]),  # the same again
        ([item("iran", 4.4)], 1, ["ar"]),  # higher, not clearly higher
        ([item("iran")], 4, ["ar"]),  # 3 → 4 crosses nothing (after a message at 3)
    ],
)
def test_no_material_change_no_followup(items: list[Item], outlets: int, langs: list[str]) -> None:
    at_three = sent("first", [item("iran"), item("russia")], 3)
    got = decide(items, [f"o{i}" for i in range(outlets)], langs, [at_three], T0 + 10_000, POLICY)
    assert got.kind is None and got.reason == "no material change"


def test_daily_cap_counts_followups_of_the_last_24_hours() -> None:
    history = [FIRST, sent("followup", [item("iran")], 2, at=T0 + 700), sent("followup", [item("iran")], 3,
                                                                           at=T0 + 1400)]
    five = [f"o{i}" for i in range(5)]
    capped = decide([item("iran")], five, ["ar"], history, T0 + 3000, POLICY)
    assert capped.kind is None and "followup_daily_cap" in capped.reason
    next_day = decide([item("iran")], five, ["ar"], history, T0 + 1400 + 86_401, POLICY)
    assert next_day.kind is Kind.FOLLOWUP and next_day.reason == "outlets 3 → 5"


def test_settings_are_validated_with_the_key_named() -> None:
    with pytest.raises(ValidationError) as bad:
        Settings.model_validate({"messages": {"followup_outlets": [3, 2], "followup_score_factor": 1}})
    text = format_errors(bad.value)
    assert "messages.followup_outlets:" in text and "messages.followup_score_factor:" in text
    with pytest.raises(ValidationError) as bad:
        Settings.model_validate({"feeds": [{"name": "f", "path": "x", "backfill": "yesterday"}]})
    assert "feeds[0].backfill:" in format_errors(bad.value)


@pytest.mark.parametrize(("value", "seconds"), [
    ("all", None), ("none", 0.0), ("24h", 86_400.0), ("90m", 5400.0), ("2d", 172_800.0), ("3600", 3600.0),
    (" 12H ", 43_200.0)])
def test_backfill_values(value: str, seconds: float | None) -> None:
    spec = FeedSpec(name="f", path="x", backfill=value)  # type: ignore[arg-type]
    assert backfill_seconds(spec.backfill) == seconds
    assert FeedSpec(name="f", path="x").backfill == "24h"  # type: ignore[arg-type]


def test_cooldown_drops_a_watch_from_a_channel_it_was_announced_on_lately() -> None:
    spec = MessagesSpec.model_validate({"cooldown": {"watches": {"iran": "1h"}, "channels": {"phone": 600}}})
    cool = spec.cooldown
    iran = Item("iran", "Iran", 3.0, "s", "asserted", ("desk", "phone"))
    drones = Item("drones", "Drones", 2.0, "s", "asserted", ("desk", "phone"))
    recent = [(T0, (iran, drones))]  # another story's message, at T0, on both channels
    got = {it.watch_id: it.channels for it in apply_cooldown([iran, drones], recent, T0 + 300, cool)}
    assert got == {"iran": (), "drones": ("desk",)}  # iran: 1 h everywhere; phone: 10 min for all
    got = {it.watch_id: it.channels for it in apply_cooldown([iran, drones], recent, T0 + 900, cool)}
    assert got == {"iran": (), "drones": ("desk", "phone")}
    got = {it.watch_id: it.channels for it in apply_cooldown([iran, drones], recent, T0 + 3601, cool)}
    assert got == {"iran": ("desk", "phone"), "drones": ("desk", "phone")}
    assert cool.longest == 3600 and MessagesSpec().cooldown.longest == 0


def test_cooldown_settings_name_unknown_watches_and_channels() -> None:
    for tree, key in (({"messages": {"cooldown": {"watches": {"nope": 60}}}}, "name unknown watch(es): nope"),
                      ({"messages": {"cooldown": {"channels": {"zz": "2h"}}}}, "unknown channel(s): zz"),
                      ({"messages": {"cooldown": {"channels": {"zz": "soon"}}}},
                       "messages.cooldown.channels.zz: must be a duration")):
        with pytest.raises(ValidationError) as bad:
            Settings.model_validate(tree)
        assert key in format_errors(bad.value)


@pytest.mark.parametrize(
    ("start", "end", "zone", "local", "until"),
    [
        ("22:00", "07:00", "UTC", "2026-03-10 23:30", "2026-03-11 07:00"),  # spans midnight, before it
        ("22:00", "07:00", "UTC", "2026-03-11 06:59", "2026-03-11 07:00"),  # after midnight
        ("22:00", "07:00", "UTC", "2026-03-11 07:00", None),  # the end is outside
        ("22:00", "07:00", "UTC", "2026-03-11 21:59", None),
        ("12:00", "14:00", "Asia/Riyadh", "2026-03-11 12:00", "2026-03-11 14:00"),  # within one day
        ("12:00", "14:00", "Asia/Riyadh", "2026-03-11 14:30", None),
        ("01:00", "04:00", "Europe/Berlin", "2026-03-29 01:30", "2026-03-29 04:00"),  # the DST night
    ],
)
def test_quiet_until_is_the_end_of_the_local_window(start: str, end: str, zone: str, local: str,
                                                    until: str | None) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from worker.config import QuietHoursSpec
    from worker.messages import quiet_until

    def ts(text: str) -> float:
        return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(zone)).timestamp()

    at, want = ts(local), None if until is None else ts(until)
    assert quiet_until(QuietHoursSpec(start=start, end=end, timezone=zone), at) == want


def test_quiet_hours_bypass_and_settings() -> None:
    from worker.config import QuietHoursSpec
    from worker.messages import bypasses

    quiet = QuietHoursSpec(start="22:00", end="07:00", bypass_score=5.0, bypass_watches=["putin"])
    assert not bypasses(quiet, [item("iran", 4.9)])
    assert bypasses(quiet, [item("iran", 5.0)]) and bypasses(quiet, [item("iran", 1.0), item("putin", 0.1)])
    for tree, key in (({"start": "22:00", "end": "22:00"}, "window would be empty"),
                      ({"start": "25:00", "end": "07:00"}, "start"),
                      ({"start": "22:00", "end": "07:00", "timezone": "Mars/Olympus"}, "unknown time zone")):
        with pytest.raises(ValidationError) as bad:
            Settings.model_validate({"channels": {"c": ["console://"]},
                                     "messages": {"quiet_hours": {"c": tree}}})
        assert key in format_errors(bad.value) and "messages.quiet_hours.c" in format_errors(bad.value)
    with pytest.raises(ValidationError) as bad:
        Settings.model_validate({"messages": {"quiet_hours": {"nope": {"start": "22:00", "end": "07:00"}}}})
    assert "messages.quiet_hours names unknown channel(s): nope" in format_errors(bad.value)

"""Spike counting: syndicated copies (near-duplicate texts) are one report, for the outlet that had
it first; distinct reports and outlets are then compared with the watch's thresholds."""

from __future__ import annotations

from worker.config import SpikeSpec
from worker.matching.normalize import normalize
from worker.spikes import Report, count_reports, is_spike
from worker.stories.text import signature, tokens

WIRE = ("Drones struck a fuel depot near the port city early on Tuesday, the regional governor said, "
        "adding that air defences shot down six of the nine aircraft and that two workers were hurt. "
        "Firefighters contained the blaze by noon and the port reopened in the afternoon.")
OTHER = ("Officials in the capital said a new wave of drone attacks had targeted power stations in three "
         "provinces overnight, cutting electricity to tens of thousands of homes, while repair crews "
         "worked through the morning to restore supplies.")
THIRD = ("The defence ministry published footage it said showed interceptor drones downing attack drones "
         "over the northern border, and announced a contract with a domestic maker for a thousand more.")


def report(article_id: int, outlet: str, text: str) -> Report:
    return Report(article_id, outlet, float(article_id), signature(tokens(normalize(text))))


def test_one_wire_story_on_many_sites_is_one_report_from_one_outlet() -> None:
    copies = [report(i, f"site{i}.example", WIRE + (" Reporting by staff." if i % 2 else ""))
              for i in range(10)]
    count = count_reports(copies, near_duplicate=0.5)
    assert count.reports == 1 and count.outlets == ("site0.example",)  # the outlet that had it first
    spec = SpikeSpec(articles=3, outlets=3, within=3600)
    assert not is_spike(count, spec)


def test_distinct_reports_from_distinct_outlets_make_a_spike() -> None:
    reports = [report(1, "a.example", WIRE), report(2, "b.example", WIRE), report(3, "c.example", OTHER),
               report(4, "a.example", THIRD)]
    count = count_reports(reports, near_duplicate=0.5)
    assert count.reports == 3 and count.outlets == ("a.example", "c.example")
    assert not is_spike(count, SpikeSpec(articles=3, outlets=3, within=3600))  # two outlets only
    assert is_spike(count, SpikeSpec(articles=3, outlets=2, within=3600))
    fourth = ("Rescue teams in the southern district pulled residents from a damaged apartment block "
              "after a drone hit its upper floors, and the mayor ordered schools to stay shut all week.")
    late = count_reports([*reports, report(5, "d.example", fourth)], near_duplicate=0.5)
    assert late.reports == 4 and is_spike(late, SpikeSpec(articles=4, outlets=3, within=3600))

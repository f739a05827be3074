"""Digest composition is pure: fixed facts give an exactly known digest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.digest import DigestFacts, DigestIdea, compose, render_plain, sparkline

END = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
START = END - timedelta(hours=24)


def idea(n: int, days_old: float = 0.5, **extra: object) -> DigestIdea:
    return DigestIdea(key=f"KZ-{n}", author=extra.pop("author", "Ana"),  # type: ignore[arg-type]
                      area=extra.pop("area", "finance"),  # type: ignore[arg-type]
                      proposal=extra.pop("proposal", f"proposal {n}"),  # type: ignore[arg-type]
                      created_at=END - timedelta(days=days_old), **extra)  # type: ignore[arg-type]


def facts(**overrides: object) -> DigestFacts:
    base = dict(
        period_start=START, period_end=END, zone="Europe/Berlin",
        captured=[idea(1), idea(2, author="Ben", area="sales"), idea(3, area=None)],
        approved=[idea(4)],
        implemented=[idea(5, process="Expense claims", version=3)],
        rejected=[idea(6, reason="too costly <!channel>")],
        waiting=[idea(7, days_old=5), idea(8, days_old=1)],
        waiting_total=2,
        support_leaders=[idea(9, support=4)],
        contributors=2, by_area={"finance": 1, "sales": 1, "no area": 1},
        silent_areas=["hr"], trend=[0, 1, 2, 4, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3],
        implemented_this_year=127,
    )
    base.update(overrides)
    return DigestFacts(**base)  # type: ignore[arg-type]


def test_a_busy_day_has_every_section_with_exact_counts() -> None:
    view = compose(facts())
    assert view.title == "Kaizen stand-up · Tuesday 03 November 2026"
    assert view.summary == "Since Mon 09:00: 3 new ideas, 1 approved, 1 implemented, 1 rejected."
    sections = {s.title: s.lines for s in view.sections}
    assert list(sections) == ["New ideas (3)", "Approved (1)", "Implemented (1)",
                              "Rejected (1)", "Waiting for a decision (2)", "Most supported",
                              "Participation", "Last 14 days"]
    assert sections["New ideas (3)"] == ("KZ-1 · Ana · finance: proposal 1",
                                         "KZ-2 · Ben · sales: proposal 2",
                                         "KZ-3 · Ana: proposal 3")
    assert sections["Implemented (1)"] == (
        "KZ-5 · finance: proposal 5 · standard “Expense claims” is now version 3",)
    assert sections["Rejected (1)"] == ("KZ-6 · finance: proposal 6 · reason: too costly "
                                        "<!channel>",)
    assert sections["Waiting for a decision (2)"] == (
        "KZ-7 · waiting 5 days · over 3 days!: proposal 7", "KZ-8 · waiting 1 day: proposal 8")
    assert sections["Most supported"] == ("KZ-9 · 4 supporters: proposal 9",)
    assert sections["Participation"] == ("2 people contributed",
                                         "By area: finance 1, no area 1, sales 1",
                                         "No ideas in 7 days from: hr")
    assert sections["Last 14 days"] == ("▁▃▅█▁▁▁▁▁▁▁▁▃▆  11 ideas",)
    assert view.footer == "127 kaizens implemented this year."
    assert not view.empty


def test_an_empty_day_is_short_encouraging_and_lists_the_waiting() -> None:
    view = compose(facts(captured=[], approved=[], implemented=[], rejected=[]))
    assert view.empty
    assert view.summary.startswith("No new ideas or decisions since Mon 09:00.")
    assert "type /kaizen" in view.summary
    assert [s.title for s in view.sections] == ["Waiting for a decision (2)"]
    nothing = compose(facts(captured=[], approved=[], implemented=[], rejected=[], waiting=[],
                            waiting_total=0))
    assert nothing.sections[0].lines == ("Nothing is waiting: every idea has a decision.",)


def test_long_lists_are_cut_with_and_n_more() -> None:
    many = [idea(n) for n in range(1, 13)]
    view = compose(facts(captured=many, waiting=many[:10], waiting_total=40), limit=5)
    sections = {s.title: s.lines for s in view.sections}
    assert sections["New ideas (12)"][-1] == "and 7 more"
    assert len(sections["New ideas (12)"]) == 6
    assert sections["Waiting for a decision (40)"][-1] == "and 35 more"


def test_plain_text_rendering_keeps_user_text_as_text() -> None:
    text = render_plain(compose(facts()))
    assert text.startswith("Kaizen stand-up · Tuesday 03 November 2026\n")
    assert "• KZ-6 · finance: proposal 6 · reason: too costly <!channel>" in text


def test_sparkline() -> None:
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([1, 2, 4, 8]) == "▂▃▅█"  # scaled to the busiest day
    assert sparkline([0, 8]) == "▁█"

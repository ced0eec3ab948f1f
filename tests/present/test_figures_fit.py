"""Text that fits its figure: dates thinned and shortened, long names cut, thin slices unlabelled."""

from __future__ import annotations

from dashboard.present import figures


def test_a_month_of_days_gets_at_most_the_asked_labels_as_month_day() -> None:
    days = [f"2026-12-{d:02d}" for d in range(1, 32)]
    ticks = figures.date_ticks(days, 6)
    assert ticks["tickvals"] == days[::6] and len(ticks["tickvals"]) <= 6
    assert ticks["ticktext"][:2] == ["12-01", "12-07"]
    across = figures.date_ticks(["2025-12-31", "2026-01-01"], 6)  # two years: the year stays
    assert across["ticktext"] == ["2025-12-31", "2026-01-01"]
    assert figures.date_ticks(["2026-10", "2026-11"], 6)["ticktext"] == ["2026-10", "2026-11"]
    figure = figures.trend_figure(days, [("x", [1.0] * 31, "#000", False)], variant="wall")
    assert figure["layout"]["xaxis"]["ticktext"][0] == "12-01"


def test_a_long_name_is_cut_between_words_and_the_short_ones_are_left_alone() -> None:
    long = "Hezhuang Jiedao Comprehensive governance platform"
    assert figures.shorten(long) == "Hezhuang Jiedao…"
    assert len(figures.shorten(long)) <= figures.CUT_AT
    assert figures.shorten("瓜沥镇") == "瓜沥镇"
    axis = figures.every_label(["瓜沥镇", long], "browser")
    assert axis["tickvals"] == ["瓜沥镇", long] and axis["ticktext"] == ["瓜沥镇", "Hezhuang Jiedao…"]
    assert "ticktext" not in figures.every_label(["瓜沥镇", "党湾镇"], "browser")


def test_names_cut_to_the_same_text_are_told_apart_by_the_words_they_do_not_share() -> None:
    """A town's own departments in English share their first words: cut at the end, two bars of one
    ranking were both "Guali Zhen Comprehensive…"."""
    names = [
        "Guali Zhen Comprehensive governance platform",
        "Guali Zhen Comprehensive enforcement platform",
        "Guali Zhen Public service platform",
        "Urban Management",
    ]
    text = figures.every_label(names, "browser")["ticktext"]
    assert text == ["Guali…governance platform", "Guali…enforcement platform", "Guali Zhen Public…", names[3]]
    assert all(len(t) <= figures.CUT_AT for t in text) and len(set(text)) == len(text)
    # Names that no cut tells apart stay whole.
    twins = ["A" * 30 + " x", "A" * 30 + " y", "A" * 30 + " y"]
    assert figures.shorten_all(twins) == [twins[0], twins[1], twins[1]]


def test_only_slices_wide_enough_carry_their_share() -> None:
    labels = figures.slice_labels([40, 30, 22, 8, 0])
    assert labels == ["40.0%", "30.0%", "22.0%", "8.0%", ""]
    donut = figures.donut_figure(["a", "b"], [95, 5])
    assert donut["data"][0]["text"] == ["95.0%", ""] and donut["data"][0]["textinfo"] == "text"
    wall = figures.donut_figure(["a", "b"], [95, 5], variant="wall")
    assert "text" not in wall["data"][0] and wall["data"][0]["textinfo"] == "label+percent"

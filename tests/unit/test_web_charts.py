"""The staff web's bar charts: bar lengths in proportion, stacked series end to end, and a
missing figure shown as a dash rather than as zero."""

from __future__ import annotations

from infra.http.web.charts import PLOT, Series, bars

TWO = (Series(key="a", name="A", css="bar-a"), Series(key="b", name="B", css="bar-b"))


def test_stacked_bars_run_end_to_end_and_the_largest_total_fills_the_plot() -> None:
    chart = bars("t", [("x", {"a": 1, "b": 3}), ("y", {"a": 2, "b": 0})], TWO, stacked=True)
    x_a, x_b, y_a, _ = chart.rects
    assert x_a.width == PLOT / 4 and x_b.x == x_a.width and x_a.width + x_b.width == PLOT
    assert y_a.width == PLOT / 2 and y_a.y > x_a.y
    assert [label.text for label in chart.labels] == ["x", "4", "y", "2"]


def test_grouped_bars_use_a_fixed_scale_and_show_a_missing_figure_as_a_dash() -> None:
    chart = bars("t", [("x", {"a": 50.0, "b": None})], TWO, stacked=False, scale=100.0)
    a, b = chart.rects
    assert a.width == PLOT / 2 and b.width == 0
    assert [label.text for label in chart.labels] == ["x", "A: 50", "B: —"]


def test_no_rows_is_an_empty_chart() -> None:
    assert bars("t", [], TWO, stacked=True).empty

"""Bar charts drawn on the server as SVG geometry (the template draws the shapes): no script,
no library, readable without colour (each bar carries its number) and mirrored by a table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

WIDTH = 640
LABEL_ROW = 18  # the label sits on its own line above its bars, so long names fit a phone
BAR = 16
GAP = 10
PLOT = 520  # the widest bar; the rest of the width holds its number


@dataclass(frozen=True, kw_only=True)
class Series:
    key: str
    name: str
    css: str  # the class giving its colour (static/staff.css)


@dataclass(frozen=True, kw_only=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    css: str
    value: float
    series: str


@dataclass(frozen=True, kw_only=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True, kw_only=True)
class Chart:
    title: str
    width: int
    height: int
    rects: list[Rect]
    labels: list[Label]
    series: Sequence[Series]
    empty: bool


def bars(
    title: str,
    rows: Sequence[tuple[str, Mapping[str, float | None]]],
    series: Sequence[Series],
    *,
    stacked: bool,
    scale: float | None = None,
) -> Chart:
    """One group of bars per row (label, value per series key): the series side by side, or
    `stacked` end to end; bar lengths relative to `scale` (default: the largest)."""

    def total(values: Mapping[str, float | None]) -> float:
        figures = [values.get(s.key) or 0.0 for s in series]
        return sum(figures) if stacked else max(figures, default=0.0)

    top = scale or max((total(v) for _, v in rows), default=0.0) or 1.0
    rects: list[Rect] = []
    labels: list[Label] = []
    y = 0.0
    for label, values in rows:
        labels.append(Label(x=0, y=y + LABEL_ROW - 5, text=label))
        y += LABEL_ROW
        x = 0.0
        for s in series:
            figure = values.get(s.key)
            value = figure or 0.0
            width = PLOT * value / top
            rects.append(
                Rect(x=x, y=y, width=width, height=BAR, css=s.css, value=value, series=s.name)
            )
            if stacked:
                x += width
            else:  # no figure (say, a percentage of nothing) reads as a dash, not as 0
                text = "—" if figure is None else _number(value)
                labels.append(Label(x=width + 4, y=y + BAR - 3, text=f"{s.name}: {text}"))
                y += BAR + 2
        if stacked:
            labels.append(Label(x=x + 4, y=y + BAR - 3, text=_number(total(values))))
            y += BAR
        y += GAP
    return Chart(
        title=title,
        width=WIDTH,
        height=max(int(y), 20),
        rects=rects,
        labels=labels,
        series=series,
        empty=not rows,
    )


def _number(value: float) -> str:
    return f"{value:g}"

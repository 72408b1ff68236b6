"""The staff web's colours meet WCAG AA: every text colour pairing the stylesheet uses has a
contrast ratio of at least 4.5:1, and the chart bars at least 3:1 against the page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import infra.http.web

CSS = (Path(infra.http.web.__file__).parent / "static" / "staff.css").read_text()
COLOURS = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", CSS))
WHITE = "#ffffff"


def luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_stylesheet_defines_the_colours_checked_here() -> None:
    assert {
        "ink",
        "muted",
        "page",
        "band",
        "link",
        "breached",
        "at-risk",
        "on-track",
        "paused",
        "lodged",
        "closed",
    } <= set(COLOURS)


@pytest.mark.parametrize(
    ("text", "background"),
    [
        ("ink", "page"),
        ("muted", "page"),
        ("link", "page"),
        ("ink", "band"),
        ("muted", "band"),
        ("link", "band"),
        ("breached", "page"),  # the 'Urgent' tag
    ],
)
def test_text_on_the_page_has_aa_contrast(text: str, background: str) -> None:
    assert contrast(COLOURS[text], COLOURS[background]) >= 4.5


@pytest.mark.parametrize("state", ["breached", "at-risk", "on-track", "paused"])
def test_white_words_on_each_sla_colour_have_aa_contrast(state: str) -> None:
    assert contrast(WHITE, COLOURS[state]) >= 4.5


@pytest.mark.parametrize("bar", ["breached", "at-risk", "lodged", "closed"])
def test_chart_bars_stand_out_from_the_page(bar: str) -> None:
    assert contrast(COLOURS[bar], COLOURS["page"]) >= 3.0


def test_a_pale_colour_would_fail() -> None:
    assert contrast("#ffbf47", WHITE) < 4.5  # the check can fail

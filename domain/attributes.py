"""A category's attributes: the extra questions a council asks about one kind of problem (a
pothole's size, when a dog barks), in Open311 GeoReport v2's own terms, and the rule that reads
a resident's answers against them.

Datatypes are the spec's: `string` and `text` (free text: personal, recorded sealed like the
description), `number`, `datetime` (W3C, with its offset), `singlevaluelist` (one key of the
attribute's values) and `multivaluelist` (one or more). An attribute that is not `variable`
only informs the resident and takes no answer.

An answer is recorded on `Lodged` as it was asked, so the record never depends on today's
configuration: `{"code", "question", "datatype", "value", "label"}`, where `value` is the
text (sealed for free text), the number or instant as normalised, or the list of keys chosen,
and `label` the chosen values' names (None for the others)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.bounds import CALENDAR_SPAN, within_calendar
from domain.errors import InvalidCommand

DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
LISTS = ("singlevaluelist", "multivaluelist")
FREE_TEXT = ("string", "text")  # personal: sealed when recorded, never shown publicly
ANSWER_MAX = {"string": 320, "text": 4000, "number": 32, "datetime": 64}


@dataclass(frozen=True, kw_only=True)
class AttributeValue:
    key: str
    name: str


@dataclass(frozen=True, kw_only=True)
class Attribute:
    """One question of a category (GeoReport v2's `attribute`)."""

    code: str
    datatype: str
    description: str
    order: int
    required: bool = False
    variable: bool = True
    datatype_description: str | None = None
    values: tuple[AttributeValue, ...] = ()

    @property
    def personal(self) -> bool:
        return self.datatype in FREE_TEXT


class InvalidAttributes(InvalidCommand):
    """Answers that do not fit the category's attributes: every problem at once."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


def check_definition(attributes: Sequence[Attribute]) -> None:
    """A `ValueError` naming what is wrong with a category's attributes as configured."""
    seen: set[str] = set()
    for a in attributes:
        if not a.code or len(a.code) > 64 or a.code in seen:
            raise ValueError(f"attribute code {a.code!r} is empty, too long or repeated")
        seen.add(a.code)
        if a.datatype not in DATATYPES:
            raise ValueError(
                f"attribute {a.code!r}: datatype must be one of {', '.join(DATATYPES)}"
            )
        if (a.datatype in LISTS) != bool(a.values):
            raise ValueError(
                f"attribute {a.code!r}: values are given for (and only for) "
                "singlevaluelist and multivaluelist"
            )
        if len({v.key for v in a.values}) != len(a.values):
            raise ValueError(f"attribute {a.code!r}: a value's key is repeated")
        if not a.description.strip():
            raise ValueError(f"attribute {a.code!r}: needs a description (the question)")


def read_answers(
    attributes: Sequence[Attribute], given: Mapping[str, Sequence[str]], *, asked: bool = True
) -> list[dict[str, Any]]:
    """The answers to record (plain: the caller seals free text), in the attributes' order,
    or `InvalidAttributes` listing every problem: an unknown code, a required attribute left
    unanswered, an answer to an attribute that takes none, a value not in the list, several
    values where one is asked for, a number or an instant that is not one, an answer too long.
    An empty answer to an optional attribute is no answer. When the questions were not
    `asked` (a request staff took down), none is required."""
    by_code = {a.code: a for a in attributes}
    problems = [
        f"attribute[{code}] is not an attribute of this service"
        for code in given
        if code not in by_code
    ]
    answers: list[dict[str, Any]] = []
    for a in sorted(attributes, key=lambda a: (a.order, a.code)):
        values = [v.strip() for v in given.get(a.code, ()) if v.strip()]
        if not a.variable:
            if values:
                problems.append(f"attribute[{a.code}] is information only and takes no answer")
            continue
        if not values:
            if a.required and asked:
                problems.append(f"attribute[{a.code}] is required: {a.description}")
            continue
        problem, answer = _answer(a, values)
        if problem:
            problems.append(f"attribute[{a.code}] {problem}")
        else:
            answers.append(answer)
    if problems:
        raise InvalidAttributes(problems)
    return answers


def _answer(a: Attribute, values: list[str]) -> tuple[str | None, dict[str, Any]]:
    recorded: dict[str, Any] = {
        "code": a.code,
        "question": a.description,
        "datatype": a.datatype,
        "value": None,
        "label": None,
    }
    if a.datatype in LISTS:
        names = {v.key: v.name for v in a.values}
        unknown = [v for v in values if v not in names]
        if unknown:
            return (f"has no value {unknown[0]!r} (one of {', '.join(names)})", recorded)
        chosen = list(dict.fromkeys(values))
        if a.datatype == "singlevaluelist" and len(chosen) > 1:
            return "takes one value", recorded
        recorded["value"] = chosen
        recorded["label"] = ", ".join(names[k] for k in chosen)
        return None, recorded
    if len(values) > 1:
        return "takes one value", recorded
    [text] = values
    if len(text) > ANSWER_MAX[a.datatype]:
        return f"is longer than {ANSWER_MAX[a.datatype]} characters", recorded
    if a.datatype == "number":
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            return f"must be a number, got {text!r}", recorded
        text = str(int(number)) if number.is_integer() else repr(number)
    elif a.datatype == "datetime":
        try:
            instant = datetime.fromisoformat(text)
        except ValueError:
            instant = None
        if instant is None or instant.utcoffset() is None:
            return "must be a W3C datetime with its offset", recorded
        if not within_calendar(instant):
            return f"must lie {CALENDAR_SPAN}", recorded
        text = instant.isoformat()
    recorded["value"] = text
    return None, recorded

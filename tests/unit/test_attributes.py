"""A category's Open311 attributes: read from the council's file (every mistake named by file
and field) and the rule that reads a resident's answers against them — every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.attributes import Attribute, AttributeValue, InvalidAttributes, read_answers
from infra.config import load_council
from tests.unit.test_config import VALID, edit, load_error, write_council

SIZE = Attribute(
    code="size",
    datatype="singlevaluelist",
    description="How big?",
    order=1,
    values=(AttributeValue(key="small", name="Small"), AttributeValue(key="large", name="Large")),
)
TIMES = Attribute(
    code="times",
    datatype="multivaluelist",
    description="When?",
    order=2,
    required=True,
    values=(AttributeValue(key="am", name="Morning"), AttributeValue(key="pm", name="Evening")),
)
DEPTH = Attribute(code="depth", datatype="number", description="How deep?", order=3)
SEEN = Attribute(code="seen", datatype="datetime", description="Seen when?", order=4)
WHERE = Attribute(code="where", datatype="string", description="Where?", order=5)
NOTE = Attribute(
    code="note", datatype="text", description="Please take care", order=6, variable=False
)
ALL = (NOTE, WHERE, SEEN, DEPTH, TIMES, SIZE)


def test_answers_are_recorded_in_order_as_asked_with_the_values_names() -> None:
    answers = read_answers(
        ALL,
        {
            "size": ["large"],
            "times": ["pm", "am", "pm"],
            "depth": [" 7.50 "],
            "seen": ["2026-12-01T07:30:00+11:00"],
            "where": ["behind the shed"],
        },
    )
    assert answers == [
        {
            "code": "size",
            "question": "How big?",
            "datatype": "singlevaluelist",
            "value": ["large"],
            "label": "Large",
        },
        {
            "code": "times",
            "question": "When?",
            "datatype": "multivaluelist",
            "value": ["pm", "am"],
            "label": "Evening, Morning",
        },
        {
            "code": "depth",
            "question": "How deep?",
            "datatype": "number",
            "value": "7.5",
            "label": None,
        },
        {
            "code": "seen",
            "question": "Seen when?",
            "datatype": "datetime",
            "value": "2026-12-01T07:30:00+11:00",
            "label": None,
        },
        {
            "code": "where",
            "question": "Where?",
            "datatype": "string",
            "value": "behind the shed",
            "label": None,
        },
    ]
    assert WHERE.personal and NOTE.personal and not SIZE.personal


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(InvalidAttributes) as caught:
        read_answers(
            ALL,
            {
                "size": ["small", "large"],
                "depth": ["deep"],
                "seen": ["today"],
                "note": ["hello"],
                "colour": ["red"],
                "where": ["x" * 321],
            },
        )
    assert sorted(caught.value.problems) == sorted(
        [
            "attribute[colour] is not an attribute of this service",
            "attribute[size] takes one value",
            "attribute[times] is required: When?",
            "attribute[depth] must be a number, got 'deep'",
            "attribute[seen] must be a W3C datetime with its offset",
            "attribute[where] is longer than 320 characters",
            "attribute[note] is information only and takes no answer",
        ]
    )
    with pytest.raises(InvalidAttributes, match="has no value 'noon'"):
        read_answers(ALL, {"times": ["noon"]})
    with pytest.raises(InvalidAttributes, match="must be a number"):
        read_answers(ALL, {"times": ["am"], "depth": ["inf"]})


def test_a_required_attribute_is_not_required_when_nobody_asked_it() -> None:
    assert read_answers(ALL, {}, asked=False) == []
    assert read_answers(ALL, {"times": ["am"], "depth": ["  "]}) == [
        {
            "code": "times",
            "question": "When?",
            "datatype": "multivaluelist",
            "value": ["am"],
            "label": "Morning",
        }
    ]


ATTRIBUTES = VALID.replace(
    "complete_days = 10\n",
    """complete_days = 10

[[categories.attributes]]
code = "size"
datatype = "singlevaluelist"
description = "How big?"
values = [{ key = "small", name = "Small" }, { key = 2, name = "Large" }]

[[categories.attributes]]
code = "depth_cm"
datatype = "number"
description = "How deep?"
""",
    1,
)


def test_attributes_load_from_the_councils_file(tmp_path: Path) -> None:
    write_council(tmp_path, ATTRIBUTES)
    pothole = load_council(tmp_path, "testshire").categories["pothole"]
    size, depth = pothole.attributes
    assert (size.order, depth.order) == (1, 2) and size.values[1].key == "2"
    assert depth.required is False and depth.variable is True and depth.values == ()


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ('datatype = "number"', 'datatype = "integer"', "datatype must be one of"),
        ('datatype = "number"', 'datatype = "singlevaluelist"', "values are given for"),
        ('code = "depth_cm"', 'code = "size"', "repeated"),
        (
            'description = "How deep?"',
            'required = "yes"\ndescription = "How deep?"',
            "must be bool",
        ),
        ('description = "How deep?"\n', "", "description: is required"),
    ],
)
def test_a_mistake_in_an_attribute_is_named_by_file_and_field(
    tmp_path: Path, old: str, new: str, says: str
) -> None:
    path, error = load_error(tmp_path, edit(ATTRIBUTES, old, new))
    assert str(path) in error and "categories[0].attributes" in error and says in error

import math

import pytest

from pymosn.config.duration import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("500ms", 0.5),
        ("1m30s", 90.0),
        ("2h", 7200.0),
        ("100us", 100e-6),
        ("100\u00b5s", 100e-6),
        ("250ns", 250e-9),
        ("1.5s", 1.5),
        (".5s", 0.5),
        ("1h2m3.5s", 3723.5),
        ("0", 0.0),
        ("+3s", 3.0),
        (" 2s ", 2.0),
        (3, 3.0),
        (0.25, 0.25),
    ],
)
def test_accepts_go_and_envoy_forms(text, seconds):
    assert math.isclose(parse_duration(text), seconds)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5", "missing unit"),
        ("1.5", "missing unit"),
        ("abc", "expected numbers with units"),
        ("1x", "expected numbers with units"),
        ("1s2", "missing unit"),
        ("", "empty"),
        ("-1s", "must not be negative"),
        (-2, "must not be negative"),
        (True, "expected a duration"),
        ([1], "expected a duration"),
        (float("nan"), "not a finite number"),
    ],
)
def test_rejects_with_a_clear_message(value, message):
    with pytest.raises(ValueError, match=message):
        parse_duration(value)

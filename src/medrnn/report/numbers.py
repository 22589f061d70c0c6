"""Numbers as a report prints them: 3 significant digits, thousands separators, "—" where a value is undefined.

One place for the rule so that every table of every task reads alike; tasks' report modules use it too (like plots.py,
it is a lower piece of report/ that imports nothing above numpy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

DASH = "—"  # an undefined value (NaN, None, no positives, a class never predicted)
DIGITS = 3


def is_number(value: Any) -> bool:
    """True for a real int or float (numpy ones too), False for bools, strings, None and the rest."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def sig(value: Any, digits: int = DIGITS) -> str:
    """`value` to `digits` significant digits: 0.486, 0.0747, 3.34, 1,230; integers whole (4,354); NaN/None as "—".

    Anything that is not a number is returned as text (already a label, say).
    """
    if value is None:
        return DASH
    if not is_number(value):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    x = float(value)
    if not math.isfinite(x):
        return DASH
    if x == 0:
        return "0" if digits <= 1 else "0." + "0" * (digits - 1)
    exponent = math.floor(math.log10(abs(x)))
    rounded = round(x, digits - 1 - exponent)
    exponent = math.floor(math.log10(abs(rounded))) if rounded else exponent  # 0.9996 -> 1.00
    if exponent >= digits - 1:
        return f"{rounded:,.0f}"
    if exponent < -4:
        return f"{x:.{digits - 1}e}"
    return f"{rounded:.{digits - 1 - exponent}f}"


def interval(ci: Any, digits: int = DIGITS) -> str:
    """A CI as "0.412–0.655" ("" when absent or malformed)."""
    if not isinstance(ci, Sequence) or isinstance(ci, str) or len(ci) != 2 or not all(is_number(v) for v in ci):
        return ""
    return f"{sig(ci[0], digits)}–{sig(ci[1], digits)}"


def estimate(value: Any, ci: Any = None, digits: int = DIGITS) -> str:
    """ "0.486 [0.0757–0.934]"; "—" when the value is undefined (its CI is then meaningless and left out)."""
    text = sig(value, digits)
    if text == DASH:
        return text
    bounds = interval(ci, digits)
    return f"{text} [{bounds}]" if bounds else text


def percent(value: Any, digits: int = DIGITS) -> str:
    """A share as "14.6%" (3 significant digits), "—" when undefined."""
    if not is_number(value) or not math.isfinite(float(value)):
        return DASH
    return sig(100 * float(value), digits) + "%"


def finite(value: Any) -> float | None:
    """value as a float, or None when it is absent, not a number or not finite."""
    if not is_number(value):
        return None
    x = float(value)
    return x if math.isfinite(x) else None

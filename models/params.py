"""Parameter checks that read like scikit-learn's own messages.

Each check raises :class:`~models.errors.InvalidParameterError` with a message such as
"The 'threshold' parameter of PairClassifier must be a float in [0, 1]. Got 2."
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

from models.errors import InvalidParameterError


def _got(value: Any) -> str:
    return f"Got {value!r}."


def check_float(
    owner: str,
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    allow_none: bool = False,
) -> None:
    """``value`` must be a real number in the interval (bools are refused)."""
    if value is None and allow_none:
        return
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value
    if ok:
        v = float(value)
        if low is not None and (v < low or (low_open and v == low)):
            ok = False
        if high is not None and (v > high or (high_open and v == high)):
            ok = False
    if not ok:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        opening = "(" if low_open or low is None else "["
        closing = ")" if high_open or high is None else "]"
        interval = f"{opening}{lo}, {hi}{closing}"
        extra = " or None" if allow_none else ""
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be a float in {interval}{extra}. {_got(value)}"
        )


def check_int(
    owner: str, name: str, value: Any, low: int | None = None, *, allow_none: bool = False
) -> None:
    """``value`` must be an integer of at least ``low`` (bools are refused)."""
    if value is None and allow_none:
        return
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and low is not None and value < low:
        ok = False
    if not ok:
        bound = "" if low is None else f" >= {low}"
        extra = " or None" if allow_none else ""
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be an int{bound}{extra}. {_got(value)}"
        )


def check_option(owner: str, name: str, value: Any, options: Sequence[Any]) -> None:
    """``value`` must be one of ``options``."""
    if not any(value is o or (type(value) is type(o) and value == o) for o in options):
        listed = ", ".join(repr(o) for o in options)
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be one of {listed}. {_got(value)}"
        )

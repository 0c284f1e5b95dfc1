"""``since=`` and ``until=`` values into Unix seconds, as ``--since``/``--until`` take them."""

from __future__ import annotations

import datetime as _dt

_FORMS = (
    "an ISO 8601 date ('2026-11-01', midnight UTC) or date-time ('2026-11-01T06:00:00Z'; "
    "UTC unless an offset is given), Unix seconds (1793491200), or a datetime or date"
)


def unix_seconds(name: str, value: object) -> int:
    """``value`` as Unix seconds; a naive date-time is UTC."""
    if isinstance(value, bool):
        raise TypeError(f"{name}={value!r} is not a time: give {_FORMS}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{name}={value!r} is not a time: give {_FORMS}")
        return int(value)
    if isinstance(value, _dt.datetime):
        return _aware(value).timestamp().__floor__()
    if isinstance(value, _dt.date):
        return _aware(_dt.datetime.combine(value, _dt.time())).timestamp().__floor__()
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        try:
            if len(text) == 10:
                return unix_seconds(name, _dt.date.fromisoformat(text))
            return unix_seconds(name, _dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            pass
        raise ValueError(f"{name}={value!r} is not a time: give {_FORMS}")
    raise TypeError(f"{name}={value!r} is not a time: give {_FORMS}")


def _aware(t: _dt.datetime) -> _dt.datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=_dt.timezone.utc)

"""Quantities with units at the edges (CLI flags, configs, APIs), SI inside.

SPEC §1: a value at the edge carries a unit suffix and is converted once, here.
A bare number or an unknown unit is an error naming the field and the accepted units.
"""

from __future__ import annotations

import re

from deconflict.errors import DeconflictError

FOOT = 0.3048  # m, exact
NAUTICAL_MILE = 1852.0  # m, exact
KNOT = NAUTICAL_MILE / 3600.0  # m/s
ALTITUDE_RANGE = (-1500.0, 60000.0)  # m: below the Dead Sea shore to above any balloon (states and plans)
MAX_SPEED = 1500.0  # m/s: ground speeds beyond this are not aircraft (SPEC §2)

DISTANCE_UNITS: dict[str, float] = {"nm": NAUTICAL_MILE, "km": 1000.0, "m": 1.0, "ft": FOOT}
DURATION_UNITS: dict[str, float] = {"s": 1.0, "min": 60.0, "h": 3600.0}
SPEED_UNITS: dict[str, float] = {"kt": KNOT, "m/s": 1.0, "km/h": 1000.0 / 3600.0, "ft/min": FOOT / 60.0}

_QUANTITY = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z/]*)\s*$")


class UnitError(DeconflictError, ValueError):
    """A quantity at the edge that has no unit, an unknown unit, or is not a number."""


def _parse(text: str, units: dict[str, float], kind: str, field: str) -> float:
    accepted = ", ".join(units)
    match = _QUANTITY.match(str(text))
    if match is None:
        raise UnitError(f"{field}: {text!r} is not a {kind}; expected a number with a unit ({accepted})")
    number, unit = match.groups()
    if not unit:
        raise UnitError(f"{field}: {text!r} has no unit; expected a {kind} in {accepted} (e.g. 5{next(iter(units))})")
    factor = units.get(unit.lower())
    if factor is None:
        raise UnitError(f"{field}: unknown unit {unit!r} in {text!r}; expected a {kind} in {accepted}")
    return float(number) * factor


def parse_distance(text: str, field: str = "distance") -> float:
    """Distance in metres from e.g. ``5nm``, ``9.26km``, ``9260m``, ``1000ft``."""
    return _parse(text, DISTANCE_UNITS, "distance", field)


def parse_duration(text: str, field: str = "duration") -> float:
    """Duration in seconds from e.g. ``300s``, ``5min``, ``2h``."""
    return _parse(text, DURATION_UNITS, "duration", field)


def parse_speed(text: str, field: str = "speed") -> float:
    """Speed in m/s from e.g. ``450kt``, ``230m/s``."""
    return _parse(text, SPEED_UNITS, "speed", field)


def parse_altitude(text: str, field: str = "altitude") -> float:
    """Altitude in metres from a distance (``30000ft``, ``9144m``) or a flight level (``FL300``)."""
    match = re.match(r"^\s*FL\s*(\d{1,3})\s*$", str(text), flags=re.IGNORECASE)
    if match:
        return int(match.group(1)) * 100.0 * FOOT
    try:
        return parse_distance(text, field)
    except UnitError:
        raise UnitError(f"{field}: {text!r} is not an altitude; expected a flight level (FL300) or a number with a unit "
                        f"({', '.join(DISTANCE_UNITS)})") from None


def format_distance(metres: float) -> str:
    """Human form of a separation minimum: NM for >= 1 NM multiples, ft for vertical-sized values."""
    if metres >= 1000.0:
        return f"{metres / NAUTICAL_MILE:g} NM"
    return f"{metres / FOOT:g} ft"


def format_duration(seconds: float) -> str:
    if seconds >= 60.0 and seconds % 60.0 == 0.0:
        return f"{seconds / 60.0:g} min"
    return f"{seconds:g} s"

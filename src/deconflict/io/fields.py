"""Pydantic field types for quantities with units (SPEC §1), and one-line validation messages."""

from __future__ import annotations

from typing import Annotated, Any, Callable, Sequence

import yaml
from pydantic import BeforeValidator, WithJsonSchema

from deconflict.core.units import UnitError, parse_altitude, parse_distance, parse_duration, parse_speed


def quantity(parse: Callable[[str, str], float]) -> BeforeValidator:
    """A validator turning ``"5nm"``-style text into SI with ``parse``; a bare number is an error."""
    def validate(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"expected a quantity with a unit, got {value!r}")
        try:
            return parse(str(value), "value")
        except UnitError as error:  # the field path is added by the caller
            raise ValueError(str(error).removeprefix("value: ")) from None
    return BeforeValidator(validate)


def _text(what: str, examples: list[str]) -> WithJsonSchema:
    """The JSON schema of a quantity: text with its unit (what a client sends), not the SI float it becomes."""
    return WithJsonSchema({"type": "string", "description": f"{what} with its unit (SPEC §1)", "examples": examples})


Distance = Annotated[float, quantity(parse_distance), _text("a distance", ["5km", "3nm", "500m", "1000ft"])]
Duration = Annotated[float, quantity(parse_duration), _text("a duration", ["90s", "10min", "2h"])]
Speed = Annotated[float, quantity(parse_speed), _text("a speed", ["250kt", "120m/s", "450km/h"])]
Altitude = Annotated[float, quantity(parse_altitude), _text("an altitude", ["FL240", "7000ft", "120m"])]


SHOWN_VALUE = 80  # characters of a bad value quoted back in a message


def field_message(location: Sequence[Any], error: dict) -> str:
    """``aircraft[2].route[0].lat: <what was expected> (got <value>)`` for one pydantic error."""
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    message = error["msg"].removeprefix("Value error, ")
    given = error.get("input")
    text = repr(given)
    if len(text) > SHOWN_VALUE:  # an answer never echoes megabytes of the caller's bad value back
        text = text[:SHOWN_VALUE] + f"... ({len(text)} characters)"
    shown = "" if isinstance(given, (dict, list)) or given is None or error["type"] == "missing" else f" (got {text})"
    return f"{path}: {message}{shown}" if path else f"{message}{shown}"


def load_yaml(text: str, source: str, error: type[Exception]) -> Any:
    """Parse YAML; a syntax error becomes ``error("<source> line N: not valid YAML (...)")``."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise error(f"{source}{where}: not valid YAML ({getattr(problem, 'problem', None) or problem})") from None

"""Structured resolution proposals carried by the hotline: a manoeuvre or a plan change."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from deconflict.core.units import UnitError, parse_altitude, parse_duration, parse_speed

MANOEUVRES = ("climb", "descend", "turn_left", "turn_right", "heading", "speed", "maintain")
PLAN_CHANGES = ("delay", "advance", "level", "reroute", "withdraw")


class _Proposal(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Manoeuvre(_Proposal):
    """``aircraft`` (icao24) flies ``action``: climb/descend to an altitude (``FL240``, ``7000ft``),
    turn or fly a heading (degrees), change speed (``250kt``), or maintain its current state."""

    type: Literal["manoeuvre"]
    aircraft: str = Field(min_length=1, max_length=32)
    action: Literal[MANOEUVRES]
    value: str | None = None

    @model_validator(mode="after")
    def _value_fits_action(self) -> "Manoeuvre":
        _check_value(self.action, self.value)
        return self


class PlanChange(_Proposal):
    """Plan ``plan`` of the proposer or the addressee changes: ``delay``/``advance`` by a duration
    (``10min``), ``level`` to an altitude band's lower bound, ``reroute`` (described in the message)
    or ``withdraw``."""

    type: Literal["plan_change"]
    plan: str = Field(min_length=1, max_length=64)
    action: Literal[PLAN_CHANGES]
    value: str | None = None

    @model_validator(mode="after")
    def _value_fits_action(self) -> "PlanChange":
        _check_value(self.action, self.value)
        return self


Proposal = Annotated[Manoeuvre | PlanChange, Field(discriminator="type")]


def _check_value(action: str, value: str | None) -> None:
    parsers = {"climb": parse_altitude, "descend": parse_altitude, "level": parse_altitude, "speed": parse_speed,
               "delay": parse_duration, "advance": parse_duration}
    if action in ("heading", "turn_left", "turn_right"):
        try:
            degrees = float(str(value).removesuffix("deg"))
        except ValueError:
            raise ValueError(f"{action} needs a value in degrees (0-360), got {value!r}") from None
        if not 0.0 <= degrees <= 360.0:
            raise ValueError(f"{action} needs a value in degrees (0-360), got {value!r}")
        return
    parser = parsers.get(action)
    if parser is None:
        return
    if value is None:
        raise ValueError(f"{action} needs a value")
    try:
        parser(value, "value")
    except UnitError as error:
        raise ValueError(str(error)) from None

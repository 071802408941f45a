"""Separation standards: named sets of alert levels, each a protected volume and an alerting time.

A pair's alert level is the highest level whose volume it will violate within that level's
alerting time (DO-365 / DAIDALUS style). Standards are selected by name (`standard("en-route")`)
or built from minima (`Standard.minima(...)`); `StandardsByParties` gives a pair of parties the
standard of their agreement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from deconflict.core.encounter import ProtectedVolume
from deconflict.core.units import FOOT, NAUTICAL_MILE
from deconflict.errors import DeconflictError

LEVEL_NAMES = ("none", "preventive", "corrective", "warning")


class StandardError(DeconflictError, ValueError):
    """An unknown standard name or inconsistent alert levels."""


@dataclass(frozen=True)
class AlertLevel:
    """Level ``number`` (1 preventive, 2 corrective, 3 warning) is raised when ``volume`` will be
    violated within ``alerting_time`` s. ``early_alerting_time`` (>= alerting_time) is how far
    ahead bands for this level look (DAIDALUS)."""

    number: int
    volume: ProtectedVolume
    alerting_time: float
    early_alerting_time: float

    @property
    def name(self) -> str:
        return LEVEL_NAMES[self.number]


@dataclass(frozen=True)
class Standard:
    """A named separation standard: alert levels in increasing severity.

    ``loss`` is the volume whose violation is a loss of separation (en-route: 5 NM / 1000 ft;
    DO-365: loss of well clear); ``recovery`` is what already-lost pairs must regain.
    """

    name: str
    levels: tuple[AlertLevel, ...]
    loss: ProtectedVolume
    description: str = ""
    lookahead_time: float | None = None

    def __post_init__(self) -> None:
        numbers = [level.number for level in self.levels]
        if not self.levels or numbers != sorted(set(numbers)) or not all(1 <= k <= 3 for k in numbers):
            raise StandardError(f"standard {self.name!r}: levels must be distinct numbers 1..3 in increasing order")
        for level in self.levels:
            if not 0 < level.alerting_time <= level.early_alerting_time:
                raise StandardError(f"standard {self.name!r}, level {level.name}: need 0 < alerting_time <= early_alerting_time")
        top, loss = self.levels[-1].volume, self.loss
        if not (top.hsep >= loss.hsep and top.vsep >= loss.vsep and top.tau >= loss.tau and top.tcoa >= loss.tcoa
                and top.miss_distance >= loss.miss_distance):
            # a loss of separation happening now must alert: occurrences are found among the alerts
            raise StandardError(f"standard {self.name!r}: the {self.levels[-1].name} volume must contain the loss volume")

    @property
    def lookahead(self) -> float:
        """How far ahead this standard looks (s): its look-ahead time (DO-365: 180 s), or else the longest
        early alerting time. Bands look this far for an intruder that already alerts, closest approaches
        are reported within it, and a manoeuvre offered as clear stays out of ``loss`` for this long."""
        if self.lookahead_time is not None:
            return self.lookahead_time
        return max(level.early_alerting_time for level in self.levels)

    @classmethod
    def minima(cls, hsep: float, vsep: float, name: str = "custom",
               alerting_times: tuple[float, float, float] = (300.0, 120.0, 60.0)) -> "Standard":
        """ATC-style standard: the three levels share the minima (m) and differ by alerting time (s)."""
        volume = ProtectedVolume(hsep=hsep, vsep=vsep)
        preventive, corrective, warning = alerting_times
        levels = (AlertLevel(1, volume, preventive, preventive), AlertLevel(2, volume, corrective, corrective),
                  AlertLevel(3, volume, warning, warning))
        return cls(name=name, levels=levels, loss=volume,
                   description=f"{hsep / NAUTICAL_MILE:g} NM / {vsep / FOOT:g} ft, alerts at "
                               f"{preventive:g} / {corrective:g} / {warning:g} s")


def _do365() -> Standard:
    """RTCA DO-365 (Phase I) detect-and-avoid well clear for UAS, with DO-365's own values: DMOD = HMD =
    4000 ft (DAIDALUS's ``DO_365_Phase_I`` configuration rounds them to 0.66 NM = 4010 ft), ZTHR 450 ft
    (700 ft for the preventive level), TTHR (modified tau) 35 s, alerting times 55 / 55 / 25 s with early
    alerting times 75 / 75 / 55 s, look-ahead 180 s."""
    well_clear = ProtectedVolume(hsep=4000 * FOOT, vsep=450 * FOOT, tau=35.0, hmd=4000 * FOOT)
    preventive = ProtectedVolume(hsep=4000 * FOOT, vsep=700 * FOOT, tau=35.0, hmd=4000 * FOOT)
    return Standard(
        name="do-365",
        levels=(AlertLevel(1, preventive, 55.0, 75.0), AlertLevel(2, well_clear, 55.0, 75.0),
                AlertLevel(3, well_clear, 25.0, 55.0)),
        loss=well_clear,
        description="DO-365 well clear: DMOD = HMD = 4000 ft, ZTHR 450 ft (preventive 700 ft), "
                    "modified tau 35 s; alerts at 55 / 55 / 25 s; look-ahead 180 s",
        lookahead_time=180.0,
    )


STANDARDS: Mapping[str, Standard] = {
    s.name: s for s in (
        Standard.minima(5 * NAUTICAL_MILE, 1000 * FOOT, "en-route", (300.0, 120.0, 60.0)),
        Standard.minima(3 * NAUTICAL_MILE, 1000 * FOOT, "terminal", (180.0, 90.0, 45.0)),
        _do365(),
    )
}


def standard(name: str) -> Standard:
    """The named standard (``en-route``, ``terminal``, ``do-365``)."""
    try:
        return STANDARDS[name.lower()]
    except KeyError:
        raise StandardError(f"unknown separation standard {name!r}; expected one of {', '.join(STANDARDS)}") from None


@dataclass(frozen=True)
class StandardsByParties:
    """A default standard, and the standards agreed between given pairs of parties (order-free)."""

    default: Standard
    agreements: Mapping[frozenset[str], Standard] = field(default_factory=dict)

    @classmethod
    def of(cls, default: Standard, agreements: Iterable[tuple[str, str, Standard]] = ()) -> "StandardsByParties":
        return cls(default, {frozenset((a, b)): s for a, b, s in agreements})

    def between(self, party_a: str, party_b: str) -> Standard:
        return self.agreements.get(frozenset((party_a, party_b)), self.default)

    @property
    def all(self) -> tuple[Standard, ...]:
        return (self.default, *self.agreements.values())

"""Alert levels for every pair in a snapshot, and a filter that keeps them steady between updates.

`alerts(states, standard)` finds candidate pairs with the detection broad phase (a volume
inflated to cover every level's reach), then evaluates each level's protected volume exactly
per pair (`encounter.violation_interval`). `AlertFilter` turns the raw levels of successive
surveillance updates into displayed levels: a level is raised when it is seen in ``m`` of the
last ``n`` updates, and lowered only after ``hysteresis`` seconds below it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from deconflict.core import _guidance
from deconflict.core.detection import PairTable, detect
from deconflict.core.encounter import Encounter, violation_interval
from deconflict.core.standards import LEVEL_NAMES, Standard, StandardsByParties, standard as named_standard
from deconflict.core.states import States

LEVEL_VERTRATE = 1.0  # m/s: below this both aircraft count as level for --vtol (SPEC §3)
SMALL = 32  # aircraft: up to this, every pair in one compiled call instead of the broad phase
ALERT_COLUMNS = ("a", "b", "party_a", "party_b", "level", "level_name", "standard", "t_in", "t_out", "t_cpa",
                 "d_cpa", "dz_cpa")


@dataclass(frozen=True, eq=False)
class Alerts(PairTable):
    """One row per pair with an alert, a < b by row order of the snapshot, most severe first, then
    soonest, then by ids.

    ``level``: 1 preventive, 2 corrective, 3 warning. ``t_in``/``t_out`` (s after ``at``) bound the
    violation of that level's volume; ``t_cpa``, ``d_cpa`` (m), ``dz_cpa`` (m) as SPEC §3.
    """

    index_a: np.ndarray
    index_b: np.ndarray
    level: np.ndarray
    standard: np.ndarray
    t_in: np.ndarray
    t_out: np.ndarray
    t_cpa: np.ndarray
    d_cpa: np.ndarray
    dz_cpa: np.ndarray
    states: States

    COLUMNS = ALERT_COLUMNS

    @property
    def level_name(self) -> np.ndarray:
        return np.asarray(LEVEL_NAMES)[self.level]


def alerts(
    states: States,
    standards: Standard | StandardsByParties | str = "en-route",
    vtol: float = 0.0,
    between_parties: bool = False,
    threads: int | None = None,
) -> Alerts:
    """Alert level of every pair of ``states`` (a snapshot, or a history reduced to one).

    ``standards``: a standard, its name, or standards per pair of parties. ``vtol`` (m): a level
    pair reported at least ``vsep - vtol`` apart is vertically separated for every volume (SPEC §3).
    """
    if isinstance(standards, str):
        standards = named_standard(standards)
    if isinstance(standards, Standard):
        standards = StandardsByParties(standards)
    s = states if states.is_snapshot else states.snapshot()
    if len(s) < 2:  # no pair: the fixed cost of the paths below is most of a quiet receiver's picture
        none, empty = np.empty(0, dtype=np.intp), np.empty(0)
        return Alerts(index_a=none, index_b=none, level=np.empty(0, dtype=np.int8), standard=np.empty(0, dtype=str),
                      t_in=empty, t_out=empty, t_cpa=empty, d_cpa=empty, dz_cpa=empty, states=s)
    if len(s) <= SMALL and not standards.agreements and not between_parties:
        return _small(s, standards.default, vtol)
    i, j = _candidates(s, standards, between_parties, threads)
    encounter = Encounter.between(s.lat, s.lon, s.velocity, s.heading, s.vertrate, s.altitude, i, j)
    m = i.size
    level = np.zeros(m, dtype=np.int8)
    t_in, t_out = np.full(m, np.inf), np.full(m, -np.inf)
    which = np.full(m, "", dtype=object)
    level_pair = (np.abs(s.vertrate[i]) < LEVEL_VERTRATE) & (np.abs(s.vertrate[j]) < LEVEL_VERTRATE)
    for agreed, rows in _by_standard(standards, s.party[i], s.party[j]):
        which[rows] = agreed.name
        sub = encounter.take(rows)
        for alert_level in agreed.levels:
            start, end = violation_interval(sub, alert_level.volume, alert_level.alerting_time)
            hit = start <= end
            if vtol > 0.0:
                hit &= ~(level_pair[rows] & (np.abs(sub.dz) >= alert_level.volume.vsep - vtol))
            target = rows[hit]
            level[target] = alert_level.number  # levels run in increasing severity
            t_in[target], t_out[target] = start[hit], end[hit]
    keep = np.flatnonzero(level > 0)
    sub = encounter.take(keep)
    horizon = np.array([standards.between(a, b).lookahead for a, b in zip(s.party[i[keep]], s.party[j[keep]])]) \
        if standards.agreements else np.full(keep.size, standards.default.lookahead)
    t_cpa = np.clip(sub.time_to_cpa, 0.0, horizon)  # SPEC §3: the closest approach within the look-ahead
    d_cpa, dz_cpa = sub.at(t_cpa)
    first, second = np.minimum(i[keep], j[keep]), np.maximum(i[keep], j[keep])  # a < b: every value is symmetric
    order = np.lexsort((s.icao24[second], s.icao24[first], t_in[keep], -level[keep]))  # ties by ids
    keep, t_cpa, d_cpa, dz_cpa = keep[order], t_cpa[order], d_cpa[order], dz_cpa[order]
    return Alerts(index_a=first[order], index_b=second[order], level=level[keep], standard=which[keep].astype(str),
                  t_in=t_in[keep], t_out=t_out[keep], t_cpa=t_cpa, d_cpa=d_cpa, dz_cpa=dz_cpa, states=s)


def losses(found: Alerts, standard: Standard, vtol: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of ``found`` whose pair is inside ``standard.loss`` now: a loss of separation
    happening (with ``vtol``'s rule for level pairs, as alerts). Returns (row mask, horizontal distance
    now in m, vertical distance now in m). Every such pair alerts (`Standard` requires its most severe
    level to contain the loss volume), so searching the alerts misses none."""
    s = found.states
    i, j = found.index_a, found.index_b
    encounter = Encounter.between(s.lat, s.lon, s.velocity, s.heading, s.vertrate, s.altitude, i, j)
    start, end = violation_interval(encounter, standard.loss, 0.0)
    inside = start <= end
    if vtol > 0.0:
        level_pair = (np.abs(s.vertrate[i]) < LEVEL_VERTRATE) & (np.abs(s.vertrate[j]) < LEVEL_VERTRATE)
        inside &= ~(level_pair & (np.abs(encounter.dz) >= standard.loss.vsep - vtol))
    horizontal = np.linalg.norm(encounter.position, axis=1) if i.size else np.empty(0)
    return inside, horizontal, np.abs(encounter.dz)


def _small(s: States, standard: Standard, vtol: float) -> Alerts:
    """A small snapshot under one standard: every pair through one compiled call (`_guidance.small_alerts`;
    the general path's fixed cost, about 0.4 ms of numpy calls, is what an onboard use pays per update)."""
    rows = [(v.hsep, v.vsep, v.tau, v.miss_distance, v.tcoa) for v in (level.volume for level in standard.levels)]
    i, j, level, values = _guidance.small_alerts(
        s.lat, s.lon, s.velocity, s.heading, s.vertrate, s.altitude, float(vtol), np.array(rows, dtype=np.float64),
        np.array([level.alerting_time for level in standard.levels], dtype=np.float64),
        np.array([level.number for level in standard.levels], dtype=np.int64), float(standard.lookahead),
        LEVEL_VERTRATE)
    order = np.lexsort((s.icao24[j], s.icao24[i], values[:, 0], -level.astype(np.int16)))
    return Alerts(index_a=i[order], index_b=j[order], level=level[order],
                  standard=np.full(order.size, standard.name), t_in=values[order, 0], t_out=values[order, 1],
                  t_cpa=values[order, 2], d_cpa=values[order, 3], dz_cpa=values[order, 4], states=s)


def _candidates(s: States, standards: StandardsByParties, between_parties: bool,
                threads: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Pairs that may violate some level's volume: SPEC §3 detection with a volume covering them all."""
    if len(s) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    closing = 2.0 * float(np.max(s.velocity))
    vertical_closing = 2.0 * float(np.max(np.abs(s.vertrate)))
    volumes = [level.volume for agreed in standards.all for level in agreed.levels]
    reach = max(v.horizontal_reach(closing) for v in volumes) * 1.001 + 1.0
    vertical_reach = max(v.vertical_reach(vertical_closing) for v in volumes) * 1.001 + 1.0
    lookahead = max(level.alerting_time for agreed in standards.all for level in agreed.levels)
    found = detect(s, lookahead=lookahead, hsep=reach, vsep=vertical_reach, between_parties=between_parties,
                   threads=threads)
    return found.index_a, found.index_b


def _by_standard(standards: StandardsByParties, party_a: np.ndarray,
                 party_b: np.ndarray) -> list[tuple[Standard, np.ndarray]]:
    """Row groups of pairs sharing an agreed standard (the default for all other pairs)."""
    groups = []
    taken = np.zeros(party_a.size, dtype=bool)
    for parties, agreed in standards.agreements.items():
        first, second = (tuple(parties) * 2)[:2]
        rows = ((party_a == first) & (party_b == second)) | ((party_a == second) & (party_b == first))
        groups.append((agreed, np.flatnonzero(rows & ~taken)))
        taken |= rows
    groups.append((standards.default, np.flatnonzero(~taken)))
    return groups


@dataclass(frozen=True)
class AlertChanges:
    """Pairs whose displayed level changed at an update: ``previous`` 0 means raised, ``current`` 0 cleared."""

    a: np.ndarray
    b: np.ndarray
    previous: np.ndarray
    current: np.ndarray


@dataclass
class AlertFilter:
    """Displayed alert levels from successive raw ones (per pair of ids), so alerts do not flicker.

    A level is shown once the raw level reached it in ``m`` of the last ``n`` updates (DAIDALUS's
    M-of-N; ``m = 1`` shows every level at once). A shown level is lowered only after the filtered
    level has stayed below it for ``hysteresis`` seconds. Levels at or above ``immediate`` (if given)
    are shown at the first update that sees them: a warning must not wait for confirmation.
    Holds O(pairs with an alert) state.
    """

    m: int = 2
    n: int = 3
    hysteresis: float = 5.0
    immediate: int | None = None
    _keys: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=str), repr=False)
    _history: np.ndarray = field(default_factory=lambda: np.empty((0, 0), dtype=np.int8), repr=False)
    _shown: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int8), repr=False)
    _below_since: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.m <= self.n:
            raise ValueError(f"alert filter needs 1 <= m <= n, got m={self.m}, n={self.n}")
        self._history = np.empty((0, self.n), dtype=np.int8)

    def update(self, time: float, a: np.ndarray, b: np.ndarray, level: np.ndarray) -> AlertChanges:
        """Feed the raw levels of one update (pairs not listed have level 0); returns what changed."""
        if not self._keys.size and not len(a):  # nothing held, nothing raised: nothing can change
            none = np.empty(0, dtype=str)
            return AlertChanges(a=none, b=none, previous=np.empty(0, dtype=np.int8), current=np.empty(0, dtype=np.int8))
        incoming = _pair_keys(np.asarray(a, dtype=str), np.asarray(b, dtype=str))
        order = np.argsort(incoming, kind="stable")
        incoming, raw = incoming[order], np.asarray(level, dtype=np.int8)[order]
        keys = np.union1d(self._keys, incoming)
        history = np.zeros((keys.size, self.n), dtype=np.int8)
        shown = np.zeros(keys.size, dtype=np.int8)
        below_since = np.full(keys.size, np.nan)
        if self._keys.size:
            old = np.searchsorted(keys, self._keys)
            history[old, 1:] = self._history[:, :-1]
            shown[old], below_since[old] = self._shown, self._below_since
        history[np.searchsorted(keys, incoming), 0] = raw
        previous = shown.copy()

        filtered = np.zeros(keys.size, dtype=np.int8)
        for k in (1, 2, 3):
            if self.immediate is not None and k >= self.immediate:
                filtered[((history >= k).sum(axis=1) >= self.m) | (history[:, 0] >= k)] = k
            else:
                filtered[(history >= k).sum(axis=1) >= self.m] = k
        raise_now = filtered >= shown
        shown[raise_now] = filtered[raise_now]
        below_since[raise_now] = np.nan
        lower = ~raise_now
        start = lower & np.isnan(below_since)
        below_since[start] = time
        expired = lower & (time - below_since >= self.hysteresis)
        shown[expired], below_since[expired] = filtered[expired], np.nan

        live = (shown > 0) | (history.max(axis=1) > 0)
        self._keys, self._history, self._shown, self._below_since = keys[live], history[live], shown[live], below_since[live]
        changed = np.flatnonzero(shown != previous)
        pairs = [_split_key(key) for key in keys[changed].tolist()]
        a = np.array([p[0] for p in pairs], dtype=str) if pairs else np.empty(0, dtype=str)
        b = np.array([p[1] for p in pairs], dtype=str) if pairs else np.empty(0, dtype=str)
        return AlertChanges(a=a, b=b, previous=previous[changed], current=shown[changed])

    def restore(self, displayed: dict[tuple[str, str], int]) -> None:
        """Make the shown levels those the caller has actually displayed (committed): every pair of
        ``displayed`` at its level, every other pair at 0. A change the caller failed to apply is
        then offered again by the next `update` (a raise whose storage failed is raised again)."""
        if displayed:
            pairs = list(displayed)
            wanted = _pair_keys(np.array([p[0] for p in pairs], dtype=str), np.array([p[1] for p in pairs], dtype=str))
            levels = np.array([displayed[p] for p in pairs], dtype=np.int8)
        else:
            wanted, levels = np.empty(0, dtype=str), np.empty(0, dtype=np.int8)
        missing = np.setdiff1d(wanted, self._keys)
        if missing.size:
            keys = np.concatenate((self._keys, missing))
            order = np.argsort(keys, kind="stable")
            grow = missing.size
            self._keys = keys[order]
            self._history = np.vstack((self._history, np.zeros((grow, self.n), dtype=np.int8)))[order]
            self._shown = np.concatenate((self._shown, np.zeros(grow, dtype=np.int8)))[order]
            self._below_since = np.concatenate((self._below_since, np.full(grow, np.nan)))[order]
        shown = np.zeros(self._keys.size, dtype=np.int8)
        if wanted.size:
            shown[np.searchsorted(self._keys, wanted)] = levels
        moved = shown != self._shown
        self._below_since[moved] = np.nan  # a restored level starts its hysteresis afresh
        self._shown = shown

    def levels(self) -> dict[tuple[str, str], int]:
        """Displayed level of every pair that has one."""
        return {_split_key(key): int(k) for key, k in zip(self._keys.tolist(), self._shown) if k > 0}


def _pair_keys(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Order-free key per pair of ids: ``len(low):low high``. The length prefix keeps it unambiguous
    whatever characters the ids hold (a separator could occur in an id and alias two pairs)."""
    first = a <= b
    low, high = np.where(first, a, b), np.where(first, b, a)
    if low.size == 0:
        return np.empty(0, dtype=str)
    prefix = np.char.add(np.char.str_len(low).astype(str), ":")
    return np.char.add(np.char.add(prefix, low), high)


def _split_key(key: str) -> tuple[str, str]:
    """The two ids of a `_pair_keys` key."""
    length, rest = key.split(":", 1)
    n = int(length)
    return rest[:n], rest[n:]

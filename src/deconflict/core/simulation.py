"""Fast-time simulation of flights along routes, with or without conflict resolution.

Each step (default 1 s) every airborne flight is a row of a `States` snapshot; detection finds
conflicts (minima times the resolution margin), losses of separation are measured at the
minima themselves, and MVP (`resolution.mvp`) turns conflicts into velocity commands that the
pilots follow after a response delay. Aircraft turn at a bank angle, accelerate and change
vertical rate within limits, and move along geodesics (pyproj); an aircraft with no pending
resolution flies direct to its next waypoint at its planned speed. It resumes navigation once
flying its route again raises no conflict to resolve over the look-ahead, or once every pair it
was resolving is past its closest point of approach (``Resolver.resume``). A level aircraft whose
plan now climbs or descends keeps its level while that would raise a new conflict within two
minutes (``Resolver.hold_level``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Callable

import numpy as np
from pyproj import Geod

from deconflict.core._kernels import VERTICAL_EPSILON
from deconflict.core.alerting import LEVEL_VERTRATE
from deconflict.core.detection import detect
from deconflict.core.encounter import Encounter, ProtectedVolume, surface_kinematics, violation_interval
from deconflict.core.resolution import mvp
from deconflict.core.simulation_model import (  # noqa: F401  (re-exported: the simulator's public names)
    RESUME, Flights, LossEpisodes, Resolver, SimulationResult, SimulationSettings,
)
from deconflict.core.states import States

GRAVITY = 9.80665  # m/s^2
WIDENED = 1.01  # losses are also counted at the minima widened by 1 %: a resolver must not live on the boundary
# an aircraft goes back to its route only when the route clears the horizontal minimum times the margin
# times this: a route that only just clears is taken back into conflict by the next small change (at 2,000
# flights an hour, seeds 1-3: 58 losses left instead of 70 without it, completions within 0.5 point)
RESUME_HYSTERESIS = 1.1
# s: how often held aircraft are checked for a clear route; every step cost the simulator half its speed
# (272x -> 146x real time with 1,150 aircraft airborne), and a release a few seconds later costs nothing
RESUME_CHECK_EVERY = 5.0
# resolution in level: a level flight (below HELD_LEVEL_VERTRATE, m/s) whose autopilot would climb or descend
# (faster than CLIMB_START_VERTRATE) keeps its level while that would raise a new conflict within this many s.
# At 2,000 flights an hour it took the losses left from 57 to 26 over three seeds; 60 s removed none (the climb
# then met the conflict a minute later) and the whole look-ahead left 94 flights off their final level, not 36
CLIMB_HOLD_HORIZON = 120.0
HELD_LEVEL_VERTRATE = 0.05
CLIMB_START_VERTRATE = 0.1
_GEOD = Geod(ellps="WGS84")


def simulate(flights: Flights, settings: SimulationSettings,
             progress: Callable[[float], None] | None = None, track_every: float = 30.0) -> SimulationResult:
    """Fly ``flights`` for ``settings.duration`` s; ``progress(t)`` is called every simulated minute."""
    return _Run(flights, settings).run(progress, track_every)


class _Run:
    """The mutable state of one simulation run (kept out of the public API)."""

    def __init__(self, flights: Flights, settings: SimulationSettings) -> None:
        self.f, self.cfg = flights, settings
        n = len(flights)
        self.n = n
        self.active = np.zeros(n, dtype=bool)
        self.done = np.zeros(n, dtype=bool)
        self.lat, self.lon, self.altitude = np.zeros(n), np.zeros(n), np.zeros(n)
        self.track, self.speed, self.vertrate = np.zeros(n), np.zeros(n), np.zeros(n)
        self.next_waypoint = flights.route_start[:-1] + 1
        self.flown = np.zeros(n)
        self.command = np.full((n, 3), np.nan)  # track, speed, vertrate a pilot is following
        self.pending: deque[tuple[float, np.ndarray, np.ndarray]] = deque()
        self.held = np.empty(0, dtype=np.int64)  # pair keys (a * n + b) under resolution
        self.released = np.zeros(n, dtype=bool)  # back on route while a pair of theirs is still held
        self.climb_held = np.zeros(n, dtype=bool)  # level: its climb or descent would raise a new conflict
        self._to_next = (np.empty(0), np.empty(0))  # this step's azimuth (deg) and distance (m) to the next waypoint, by row
        self.manoeuvres = (np.ones(n, dtype=bool) if settings.resolver.manoeuvring is None
                           else np.isin(flights.party, list(settings.resolver.manoeuvring)))
        self.conflict_keys = np.empty(0, dtype=np.int64)
        self.loss_open: dict[int, list[float]] = {}
        self.loss_rows: list[tuple] = []
        self.conflict_count = 0
        self.finished_at = np.full(n, np.nan)
        self.final_level_error = np.full(n, np.nan)
        self.widened_open = np.empty(0, dtype=np.int64)  # pair keys inside the widened minima now
        self.widened_episodes = 0

    def run(self, progress: Callable[[float], None] | None, track_every: float) -> SimulationResult:
        import time as wallclock

        cfg = self.cfg
        times = np.arange(0.0, cfg.duration, cfg.step)
        airborne, conflicts_now, losses_now = (np.zeros(times.size, dtype=np.int64) for _ in range(3))
        tracks = []
        began = wallclock.perf_counter()
        for k, t in enumerate(times):
            self._activate(t)
            rows = np.flatnonzero(self.active)
            airborne[k] = rows.size
            if rows.size:
                # the resolver's checks and the autopilot all steer by it: one geodesic solve per step
                waypoint = self.next_waypoint[rows]
                self._to_next = _GEOD.inv(self.lon[rows], self.lat[rows], self.f.waypoint_lon[waypoint],
                                          self.f.waypoint_lat[waypoint])[::2]
                conflicts_now[k], losses_now[k] = self._surveil_and_resolve(t, rows)
                self._fly(t, rows)
                if track_every and (t % track_every) < cfg.step:
                    tracks.append(np.column_stack((rows, self.lat[rows], self.lon[rows])))
            if progress is not None and (t % 60.0) < cfg.step:
                progress(t)
        self._close_losses(times[-1] + cfg.step if times.size else 0.0, everything=True)
        wall = wallclock.perf_counter() - began
        losses = self._episodes()
        return SimulationResult(settings=cfg, time=times, airborne=airborne, conflicts_now=conflicts_now,
                                losses_now=losses_now, conflicts=self.conflict_count, losses=losses,
                                completed=self.done.copy(), distance_flown=self.flown.copy(),
                                route_length=self.f.route_length(), wall_seconds=wall,
                                tracks=np.concatenate(tracks) if tracks else np.empty((0, 3)),
                                finished_at=self.finished_at.copy(), widened_losses=self.widened_episodes,
                                final_level_error=self.final_level_error.copy(),
                                flights_start=self.f.start.copy(), flights_speed=self.f.speed.copy())

    # -- flights appear and fly ---------------------------------------------------------------
    def _activate(self, t: float) -> None:
        """Flights due now appear at their first waypoint, unless they would lose separation with an
        aircraft already there within ``entry_clear_time``: hand-over from the neighbouring airspace
        is separated, so they wait (the same rule with and without resolution)."""
        new = np.flatnonzero(~self.active & ~self.done & (self.f.start <= t))
        if not new.size:
            return
        first = self.f.route_start[new]
        azimuth, _, to_go = _GEOD.inv(self.f.waypoint_lon[first], self.f.waypoint_lat[first],
                                      self.f.waypoint_lon[first + 1], self.f.waypoint_lat[first + 1])
        to_go = to_go / self.f.speed[new]
        track = np.mod(azimuth, 360.0)
        if t > 0.0:  # flights there at the start are already airborne
            clear = self._entry_clear(new, track, self._climb_rate(first + 1, self.f.waypoint_altitude[first], to_go))
            new, first, track = new[clear], first[clear], track[clear]
        self.lat[new], self.lon[new] = self.f.waypoint_lat[first], self.f.waypoint_lon[first]
        self.altitude[new] = self.f.waypoint_altitude[first]
        self.track[new] = track
        self.speed[new] = self.f.speed[new]
        self.vertrate[new] = 0.0
        self.active[new] = True

    def _climb_rate(self, waypoint: np.ndarray, altitude: np.ndarray, time_to_go: np.ndarray) -> np.ndarray:
        """Autopilot vertical rate (m/s): reach the waypoint's altitude by the time it is reached."""
        limit = self.cfg.vertrate_limit
        return np.clip((self.f.waypoint_altitude[waypoint] - altitude) / np.maximum(time_to_go, 10.0), -limit, limit)

    def _entry_clear(self, new: np.ndarray, track: np.ndarray, vertrate: np.ndarray) -> np.ndarray:
        """Which of the flights ``new`` (entering on ``track`` at ``vertrate``) can appear now."""
        first = self.f.route_start[new]
        present = np.flatnonzero(self.active)
        lat = np.concatenate((self.lat[present], self.f.waypoint_lat[first]))
        lon = np.concatenate((self.lon[present], self.f.waypoint_lon[first]))
        speed = np.concatenate((self.speed[present], self.f.speed[new]))
        heading = np.concatenate((self.track[present], track))
        vertrate = np.concatenate((self.vertrate[present], vertrate))
        altitude = np.concatenate((self.altitude[present], self.f.waypoint_altitude[first]))
        ecef = surface_kinematics(lat, lon, speed, heading)
        # clear of the widened horizontal minimum: a flight handed over at exactly 5 NM is on the boundary
        # the widened count watches, which no resolver could have avoided (adjacent levels stay allowed)
        volume = ProtectedVolume(self.cfg.hsep * WIDENED, self.cfg.vsep - VERTICAL_EPSILON)
        horizon = max(self.cfg.entry_clear_time, self.cfg.step)
        k, m = new.size, present.size
        # against the aircraft already there that can come close within the horizon, all at once
        chord = np.linalg.norm(ecef[0][m:, None, :] - ecef[0][None, :m, :], axis=2)
        reach = volume.hsep + (speed[m:, None] + speed[None, :m]) * horizon
        entering, other = np.nonzero(chord < reach)
        t_in, t_out = violation_interval(Encounter.from_ecef(*ecef, vertrate, altitude, m + entering, other), volume, horizon)
        clear = np.ones(k, dtype=bool)
        clear[entering[t_in <= t_out]] = False
        # among themselves: the earlier entry goes first
        first_of, second_of = np.triu_indices(k, 1)
        if first_of.size:
            t_in, t_out = violation_interval(Encounter.from_ecef(*ecef, vertrate, altitude, m + first_of, m + second_of),
                                             volume, horizon)
            for a, b in zip(first_of[t_in <= t_out].tolist(), second_of[t_in <= t_out].tolist()):
                if clear[a]:
                    clear[b] = False
        return clear

    def _snapshot(self, t: float, rows: np.ndarray) -> States:
        return States(icao24=self.f.icao24[rows], time=np.full(rows.size, t), lat=self.lat[rows], lon=self.lon[rows],
                      velocity=self.speed[rows], heading=self.track[rows], vertrate=self.vertrate[rows],
                      altitude=self.altitude[rows], callsign=self.f.callsign[rows], party=self.f.party[rows],
                      onground=np.zeros(rows.size, dtype=bool), at=t)

    def _fly(self, t: float, rows: np.ndarray) -> None:
        cfg, f = self.cfg, self.f
        dt = cfg.step
        wp = self.next_waypoint[rows]
        azimuth, to_go = self._to_next
        target_track = np.mod(azimuth, 360.0)
        target_speed = f.speed[rows].copy()
        time_to_go = to_go / np.maximum(self.speed[rows], 1.0)
        to_climb = f.waypoint_altitude[wp] - self.altitude[rows]
        target_vertrate = self._climb_rate(wp, self.altitude[rows], time_to_go)
        command = self.command[rows]  # NaN where the autopilot flies that dimension
        commanded = ~np.isnan(command[:, 0])
        target_track = np.where(commanded, command[:, 0], target_track)
        target_speed = np.where(commanded, command[:, 1], target_speed)
        vertical_command = ~np.isnan(command[:, 2])
        target_vertrate = np.where(vertical_command, command[:, 2], target_vertrate)
        target_vertrate = np.where(self.climb_held[rows] & ~vertical_command, 0.0, target_vertrate)

        speed = self.speed[rows]
        turn_rate = np.degrees(GRAVITY * np.tan(np.radians(cfg.bank_angle)) / np.maximum(speed, 30.0))
        turn = (target_track - self.track[rows] + 180.0) % 360.0 - 180.0
        heading = (self.track[rows] + np.clip(turn, -turn_rate * dt, turn_rate * dt)) % 360.0
        speed = speed + np.clip(target_speed - speed, -cfg.acceleration * dt, cfg.acceleration * dt)
        vertrate = self.vertrate[rows] + np.clip(target_vertrate - self.vertrate[rows],
                                                 -cfg.vertical_acceleration * dt, cfg.vertical_acceleration * dt)
        lon, lat, back = _GEOD.fwd(self.lon[rows], self.lat[rows], heading, speed * dt)
        self.lat[rows], self.lon[rows] = lat, lon
        self.track[rows] = np.mod(np.asarray(back) + 180.0, 360.0)
        # a commanded track is a great circle, not a constant true track: carry every command (held or still
        # waiting for the pilot) along by the meridian convergence its aircraft just flew through. Near a pole
        # a true track a few seconds old points elsewhere (tens of degrees a second at 89.96 deg N)
        self._transport_commands(rows, (self.track[rows] - heading + 180.0) % 360.0 - 180.0)
        self.speed[rows], self.vertrate[rows] = speed, vertrate
        altitude = self.altitude[rows] + vertrate * dt
        # level off exactly at the waypoint's altitude when this step would reach it
        level_off = ~vertical_command & (np.abs(to_climb) <= np.abs(vertrate) * dt + 1e-6) & (to_climb * vertrate >= 0.0)
        altitude[level_off] = f.waypoint_altitude[wp[level_off]]
        vertrate[level_off] = 0.0
        self.altitude[rows] = altitude
        self.vertrate[rows] = vertrate
        self.flown[rows] += speed * dt

        # waypoint reached: within a step's distance, or behind the aircraft and within two turn radii
        # (turning back to overfly it would cost a full circle)
        behind = np.abs((azimuth - heading + 180.0) % 360.0 - 180.0) > 90.0
        turn_radius = speed / np.radians(turn_rate)
        passed = (to_go <= speed * dt * 1.5) | (behind & (to_go < 2.0 * turn_radius))
        advance = rows[passed]
        self.next_waypoint[advance] += 1
        finished = advance[self.next_waypoint[advance] >= f.route_start[advance + 1]]
        self.active[finished], self.done[finished] = False, True
        self.finished_at[finished] = t + dt
        self.final_level_error[finished] = self.altitude[finished] - f.waypoint_altitude[f.route_start[finished + 1] - 1]
        self.command[finished] = np.nan

    def _transport_commands(self, rows: np.ndarray, convergence: np.ndarray) -> None:
        """Turn the commanded tracks of flights ``rows`` (held and pending) by ``convergence`` (deg)."""
        turn = np.zeros(self.n)
        turn[rows] = convergence
        self.command[:, 0] = (self.command[:, 0] + turn) % 360.0
        for _, flights, targets in self.pending:
            targets[:, 0] = (targets[:, 0] + turn[flights]) % 360.0

    # -- surveillance, statistics and resolution ------------------------------------------------
    def _surveil_and_resolve(self, t: float, rows: np.ndarray) -> tuple[int, int]:
        cfg, resolver = self.cfg, self.cfg.resolver
        resolving = resolver.method == "mvp"
        margin, vertical_margin = (resolver.margin, resolver.vertical) if resolving else (1.0, 1.0)
        snapshot = self._snapshot(t, rows)
        # every pair inside the widened minima now, and every pair to resolve, is among those found
        found = detect(snapshot, lookahead=cfg.lookahead, hsep=cfg.hsep * max(margin, WIDENED),
                       vsep=cfg.vsep * max(vertical_margin, WIDENED))
        i, j = found.index_a, found.index_b
        self._ecef = surface_kinematics(snapshot.lat, snapshot.lon, snapshot.velocity, snapshot.heading)
        encounter = self._encounter(snapshot, i, j)
        t_in, t_out = violation_interval(encounter, ProtectedVolume(cfg.hsep, cfg.vsep), cfg.lookahead)
        ga, gb = np.minimum(rows[i], rows[j]), np.maximum(rows[i], rows[j])
        keys = ga * self.n + gb
        in_conflict = t_in <= t_out
        conflict_keys = np.unique(keys[in_conflict])
        self.conflict_count += int(np.setdiff1d(conflict_keys, self.conflict_keys, assume_unique=True).size)
        self.conflict_keys = conflict_keys
        distance = encounter.distance
        vertical = np.abs(encounter.dz)
        loss = (distance < cfg.hsep) & (vertical < cfg.vsep - VERTICAL_EPSILON)
        # widened minima: a level pair at least the nominal vertical minimum apart stays separated (RVSM's
        # adjacent flight levels are exactly 1000 ft apart; SPEC §3's level-pair rule with vtol = the widening)
        level = (np.abs(snapshot.vertrate[i]) < LEVEL_VERTRATE) & (np.abs(snapshot.vertrate[j]) < LEVEL_VERTRATE)
        vertically_inside = (vertical < cfg.vsep * WIDENED - VERTICAL_EPSILON) & ~(level & (vertical >= cfg.vsep - VERTICAL_EPSILON))
        widened = np.unique(keys[(distance < cfg.hsep * WIDENED) & vertically_inside])
        self.widened_episodes += int(np.setdiff1d(widened, self.widened_open, assume_unique=True).size)
        self.widened_open = widened
        self._record_losses(t, keys[loss], distance[loss], vertical[loss], snapshot.lat[i[loss]], snapshot.lon[i[loss]])
        if resolving:
            volume = ProtectedVolume(cfg.hsep * margin, cfg.vsep * vertical_margin)
            pick = np.flatnonzero(self._to_resolve(encounter, level))
            to_resolve = replace(found, index_a=i[pick], index_b=j[pick], t_in=found.t_in[pick],
                                 t_out=found.t_out[pick], t_cpa=found.t_cpa[pick], d_cpa=found.d_cpa[pick],
                                 dz_cpa=found.dz_cpa[pick], hsep=volume.hsep, vsep=volume.vsep)
            self._resolve(t, rows, snapshot, to_resolve, keys[pick], self._encounter(snapshot, i[pick], j[pick]))
            if resolver.hold_level:
                self._hold_climbs(rows, snapshot, keys[pick])
        return int(conflict_keys.size), int(loss.sum())

    def _to_resolve(self, encounter: Encounter, level: np.ndarray, hysteresis: float = 1.0,
                    horizon: float | None = None) -> np.ndarray:
        """Which pairs (``level``: both under 1 m/s vertically) the resolver acts on: those that violate the
        minima times the margins within the look-ahead, except a level pair at least the nominal vertical
        minimum apart that stays so over the whole look-ahead (adjacent flight levels are separated whatever
        the margin: the vertical margin is for aircraft climbing or descending). "Level" is below 1 m/s, so
        a slow climber counts as level: without the look-ahead condition it passed through the other's level
        unresolved (21 of the 38 losses MVP left at 2,000 flights an hour; tested). ``hysteresis`` widens the
        horizontal minimum further (a route checked before it is taken back); ``horizon`` (s): a shorter
        look-ahead for the violation (the level-pair exception still looks over the whole look-ahead)."""
        cfg, resolver = self.cfg, self.cfg.resolver
        horizon = cfg.lookahead if horizon is None else horizon
        volume = ProtectedVolume(cfg.hsep * resolver.margin * hysteresis, cfg.vsep * resolver.vertical)
        r_in, r_out = violation_interval(encounter, volume, horizon)
        by_level = level & (np.abs(encounter.dz) >= cfg.vsep - VERTICAL_EPSILON)
        if by_level.any():
            nominal = ProtectedVolume(volume.hsep, cfg.vsep - VERTICAL_EPSILON)
            # over the whole look-ahead even with a shorter ``horizon``: "a level pair that stays apart"
            n_in, n_out = violation_interval(encounter.take(np.flatnonzero(by_level)), nominal, cfg.lookahead)
            by_level[by_level] = n_in > n_out
        return (r_in <= r_out) & ~by_level

    def _record_losses(self, t, keys, distance, vertical, lat, lon) -> None:
        cfg = self.cfg
        severity = 1.0 - np.maximum(distance / cfg.hsep, vertical / cfg.vsep)
        for key, d, dz, sev, la, lo in zip(keys.tolist(), distance.tolist(), vertical.tolist(), severity.tolist(),
                                           lat.tolist(), lon.tolist()):
            episode = self.loss_open.get(key)
            if episode is None:
                self.loss_open[key] = [t, t, d, dz, sev, la, lo]
            else:
                episode[1] = t
                if d < episode[2]:
                    episode[2], episode[3], episode[5], episode[6] = d, dz, la, lo
                episode[4] = max(episode[4], sev)
        self._close_losses(t, everything=False, still=set(keys.tolist()))

    def _close_losses(self, t: float, everything: bool, still: set[int] | None = None) -> None:
        for key in list(self.loss_open):
            if everything or key not in still:
                start, last, d, dz, sev, la, lo = self.loss_open.pop(key)
                self.loss_rows.append((key // self.n, key % self.n, start, last - start + self.cfg.step, d, dz, sev, la, lo))

    def _episodes(self) -> LossEpisodes:
        rows = sorted(self.loss_rows, key=lambda r: (r[2], r[0], r[1]))
        columns = list(zip(*rows)) if rows else [[]] * 9
        a, b = np.asarray(columns[0], dtype=np.int64), np.asarray(columns[1], dtype=np.int64)
        return LossEpisodes(a=self.f.icao24[a], b=self.f.icao24[b], start=np.asarray(columns[2], float),
                            duration=np.asarray(columns[3], float), min_distance=np.asarray(columns[4], float),
                            min_vertical=np.asarray(columns[5], float), severity=np.asarray(columns[6], float),
                            lat=np.asarray(columns[7], float), lon=np.asarray(columns[8], float))

    def _encounter(self, snapshot: States, i: np.ndarray, j: np.ndarray) -> Encounter:
        return Encounter.from_ecef(*self._ecef, snapshot.vertrate, snapshot.altitude, i, j)

    def _resolve(self, t: float, rows: np.ndarray, snapshot: States, found, keys: np.ndarray,
                 encounter: Encounter) -> None:
        cfg, resolver = self.cfg, self.cfg.resolver
        planned = self.f.speed[rows]
        manoeuvres = mvp(found, dimensions=resolver.dimensions, manoeuvres=self.manoeuvres[rows],
                         speed_limits=(planned * cfg.speed_range[0], planned * cfg.speed_range[1]),
                         vertrate_limit=cfg.vertrate_limit, encounter=encounter)
        if len(manoeuvres):
            flights = rows[manoeuvres.index]
            targets = np.column_stack((manoeuvres.track, manoeuvres.speed, manoeuvres.vertrate))
            if resolver.dimensions != "vertical":
                targets[:, 2] = np.nan  # the autopilot keeps flying the vertical profile
            if resolver.dimensions == "vertical":
                targets[:, :2] = np.nan  # ... or the horizontal route
            self.pending.append((t + resolver.delay, flights, targets))
        # pairs stay under resolution until they are past their closest approach (or back on a clear route)
        self.held, resolving = self._hold(t, np.union1d(self.held, keys), rows, snapshot, current=keys)
        while self.pending and self.pending[0][0] <= t + 1e-9:
            _, flights, targets = self.pending.popleft()
            keep = resolving[flights] & self.active[flights]
            self.command[flights[keep]] = targets[keep]
        self.command[~resolving] = np.nan  # resume navigation

    def _hold(self, t: float, held: np.ndarray, rows: np.ndarray, snapshot: States,
              current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The pairs that stay under resolution, and per flight whether it keeps following its commands.

        A pair in conflict now holds both its aircraft. A pair no longer in conflict holds them until it is
        past its closest approach; with ``resume="route"`` an aircraft of such a pair is released earlier,
        once flying its route again would raise no conflict to resolve (`_route_blocked`, checked every
        ``RESUME_CHECK_EVERY`` s); it follows its commands again if it is in conflict again or its route
        is blocked at a later check. A pair whose two aircraft are both released is dropped."""
        row_of = np.full(self.n, -1, dtype=np.int64)
        row_of[rows] = np.arange(rows.size)
        a, b = row_of[held // self.n], row_of[held % self.n]
        airborne = (a >= 0) & (b >= 0)
        held, a, b = held[airborne], a[airborne], b[airborne]
        resolving = np.zeros(self.n, dtype=bool)
        if not held.size:
            self.released[:] = False
            return held, resolving
        encounter = self._encounter(snapshot, a, b)
        converging = np.einsum("ij,ij->i", encounter.position, encounter.velocity) < 0.0
        now = np.isin(held, current)
        held = held[converging | now]
        resolving[held // self.n] = True
        resolving[held % self.n] = True
        if self.cfg.resolver.resume == "route":
            in_conflict = np.zeros(self.n, dtype=bool)
            in_conflict[current // self.n] = True
            in_conflict[current % self.n] = True
            self.released &= resolving & ~in_conflict  # in conflict again, or no longer held: not released
            if round(t / self.cfg.step) % max(1, round(RESUME_CHECK_EVERY / self.cfg.step)) == 0:
                # every released flight is checked again: one whose route is blocked now follows its
                # commands again (as a resolution in progress does)
                candidates = np.flatnonzero(resolving & ~in_conflict)
                self.released[:] = False
                if candidates.size:
                    self.released[candidates[~self._route_blocked(candidates, row_of, snapshot)]] = True
            resolving &= ~self.released
            held = held[resolving[held // self.n] | resolving[held % self.n]]
        return held, resolving

    def _hold_climbs(self, rows: np.ndarray, snapshot: States, current: np.ndarray) -> None:
        """Resolution in level: a level flight whose autopilot would now start a climb or descent keeps its
        level while that would raise, within ``CLIMB_HOLD_HORIZON`` s, a conflict to resolve with an aircraft
        it is not already resolving with (a controller's "expect higher later"); ``current``: the pair keys
        being resolved now. Checked every step: a climb that has begun is not taken back."""
        self.climb_held[rows] = False
        wanted = self._climb_rate(self.next_waypoint[rows], self.altitude[rows],
                                  self._to_next[1] / np.maximum(self.speed[rows], 1.0))
        wanting = np.flatnonzero((np.abs(snapshot.vertrate) < HELD_LEVEL_VERTRATE) & (np.abs(wanted) > CLIMB_START_VERTRATE)
                                 & np.isnan(self.command[rows, 2]) & self.manoeuvres[rows])
        if not wanting.size:
            return
        # a held flight stays level: the others' climbs are checked again against it
        self.climb_held[rows[wanting]] = self._trials_blocked(
            rows, snapshot, wanting, snapshot.heading[wanting], snapshot.velocity[wanting], wanted[wanting],
            horizon=min(CLIMB_HOLD_HORIZON, self.cfg.lookahead), current=current)

    def _route_blocked(self, flights: np.ndarray, row_of: np.ndarray, snapshot: States) -> np.ndarray:
        """Per flight of ``flights`` (all airborne): whether flying its route now (direct to its next
        waypoint at its planned speed and the autopilot's vertical rate) would raise a conflict to resolve
        at the horizontal minimum times ``RESUME_HYSTERESIS`` as well, while every other aircraft keeps its
        velocity and the others of ``flights`` that are released fly their routes too (`_trials_blocked`)."""
        local = row_of[flights]
        azimuth, to_go = self._to_next[0][local], self._to_next[1][local]
        speed = self.f.speed[flights]
        vertrate = self._climb_rate(self.next_waypoint[flights], self.altitude[flights], to_go / np.maximum(speed, 1.0))
        return self._trials_blocked(np.flatnonzero(row_of >= 0), snapshot, local, np.mod(azimuth, 360.0), speed, vertrate,
                                    hysteresis=RESUME_HYSTERESIS)

    def _trials_blocked(self, rows: np.ndarray, snapshot: States, trying: np.ndarray, heading: np.ndarray,
                        speed: np.ndarray, vertrate: np.ndarray, hysteresis: float = 1.0,
                        horizon: float | None = None, current: np.ndarray | None = None) -> np.ndarray:
        """Per snapshot row of ``trying``: whether flying ``heading`` (deg), ``speed`` (m/s) and ``vertrate``
        (m/s) instead of its own velocity would raise a conflict to resolve (`_to_resolve`, with
        ``hysteresis`` and ``horizon``) with anyone, while every other aircraft keeps its velocity; pairs
        in ``current`` (keys being resolved now) do not count. Flights are tried together: one found
        blocked keeps its velocity and the rest are tried again against it until none changes (the
        blocked set only grows: at most ``trying.size`` rounds, one or two in practice)."""
        cfg, resolver = self.cfg, self.cfg.resolver
        horizon = cfg.lookahead if horizon is None else horizon
        blocked = np.zeros(trying.size, dtype=bool)
        while True:
            moving = np.zeros(rows.size, dtype=bool)
            moving[trying[~blocked]] = True
            trial_heading, trial_speed, trial_vertrate = snapshot.heading.copy(), snapshot.velocity.copy(), snapshot.vertrate.copy()
            trial_heading[trying[~blocked]], trial_speed[trying[~blocked]], trial_vertrate[trying[~blocked]] = (
                heading[~blocked], speed[~blocked], vertrate[~blocked])
            # a detection of the whole picture (its grid broad phase): against every aircraft by a chord bound
            # it cost 4x more, since 5 min at 250 m/s reaches across the whole area. Found a little wide:
            # `_to_resolve` decides on the closed boundary
            found = detect(replace(snapshot, heading=trial_heading, velocity=trial_speed, vertrate=trial_vertrate),
                           lookahead=horizon, hsep=cfg.hsep * resolver.margin * hysteresis * WIDENED,
                           vsep=cfg.vsep * resolver.vertical * WIDENED)
            i, j = found.index_a, found.index_b
            mine = moving[i] | moving[j]
            i, j = i[mine], j[mine]
            ecef = surface_kinematics(snapshot.lat, snapshot.lon, trial_speed, trial_heading)
            level = (np.abs(trial_vertrate[i]) < LEVEL_VERTRATE) & (np.abs(trial_vertrate[j]) < LEVEL_VERTRATE)
            conflict = self._to_resolve(Encounter.from_ecef(*ecef, trial_vertrate, snapshot.altitude, i, j), level,
                                        hysteresis=hysteresis, horizon=horizon)
            if current is not None:
                conflict &= ~np.isin(np.minimum(rows[i], rows[j]) * self.n + np.maximum(rows[i], rows[j]), current)
            hit = np.zeros(rows.size, dtype=bool)
            hit[i[conflict & moving[i]]] = True
            hit[j[conflict & moving[j]]] = True
            now = blocked | hit[trying]
            if np.array_equal(now, blocked):
                return blocked
            blocked = now

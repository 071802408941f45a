"""The live picture: a repeated (held) position of a moving aircraft is not applied, so the track ages
out from its last real position instead of standing still, and a dropped track that comes back with
the same held position stays dropped (a parked aircraft a feed still reports at 150 kt)."""

from __future__ import annotations

import numpy as np

from deconflict.core.states import States
from deconflict.service.picture import Picture

METRES_PER_DEGREE_LON_AT_45 = 78_850.0


def _report(time: float, lon: float, icao24: str = "a1", party: str = "alpha", velocity: float = 80.0) -> States:
    return States.from_arrays([icao24], [time], [45.0], [lon], [velocity], [90.0], [0.0], altitude=[3000.0],
                              party=[party])


def test_a_held_position_is_not_applied_and_the_track_ages_out():
    picture = Picture()
    for t in range(0, 30, 5):  # flies east at 80 m/s for 25 s ...
        picture.add(_report(float(t), 5.0 + 80.0 * t / METRES_PER_DEGREE_LON_AT_45))
    last = 5.0 + 80.0 * 25 / METRES_PER_DEGREE_LON_AT_45
    for t in range(30, 300, 5):  # ... then the feed repeats its last position with new times
        picture.add(_report(float(t), last))
    latest = picture.latest()
    assert latest.time.tolist() == [25.0] and picture.held == 54
    snapshot = picture.snapshot(at=80.0, max_age=60.0)  # predicted on from 25 s: still shown, moving
    assert snapshot.lon[0] > last + 50.0 * 80.0 / METRES_PER_DEGREE_LON_AT_45
    assert len(picture.snapshot(at=90.0, max_age=60.0)) == 0  # 65 s without a real position: gone


def test_a_dropped_track_reported_again_at_its_held_position_stays_dropped():
    picture = Picture()
    picture.add(_report(0.0, 5.0))
    picture.forget_older_than(100.0)  # dropped as stale; remembered
    picture.add(_report(200.0, 5.0))  # the same position, new time, still "80 m/s"
    assert len(picture.snapshot(at=200.0, max_age=60.0)) == 0
    picture.add(_report(210.0, 5.02))  # a real position (1.6 km away): back in the picture
    assert picture.snapshot(at=210.0, max_age=60.0).icao24.tolist() == ["a1"]
    picture.forget_older_than(150.0)  # back with a real position: no longer remembered as dropped
    picture.add(_report(220.0, 5.02 + 800.0 / METRES_PER_DEGREE_LON_AT_45))
    assert picture.latest().time.tolist() == [220.0]


def test_a_slow_aircraft_standing_still_and_other_tracks_are_applied():
    picture = Picture()
    picture.add(_report(0.0, 5.0, velocity=5.0))
    picture.add(_report(10.0, 5.0, velocity=5.0))  # a hover: believed
    picture.add(_report(0.0, 5.0, icao24="b1"))
    picture.add(_report(0.0, 5.0, party="bravo"))  # another party's track of the same address
    latest = picture.latest()
    order = np.lexsort((latest.icao24, latest.party))
    assert list(zip(latest.party[order], latest.icao24[order], latest.time[order])) == [
        ("alpha", "a1", 10.0), ("alpha", "b1", 0.0), ("bravo", "a1", 0.0)]

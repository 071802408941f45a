import numpy as np
import pytest

from deconflict import States
from deconflict.core.geodesy import geodesic_distance


def history():
    return States.from_arrays(
        icao24=["a", "a", "b", "c", "d", "e"],
        time=[100.0, 110.0, 105.0, 30.0, 110.0, 120.0],
        lat=[50.0, 50.01, 51.0, 52.0, 53.0, 54.0], lon=5.0, velocity=[200.0, 200.0, 100.0, 150.0, 0.0, 10.0],
        heading=[0.0, 0.0, 90.0, 0.0, 0.0, 0.0], vertrate=[0.0, 0.0, 5.0, 0.0, 0.0, 0.0],
        altitude=[9000.0, 9010.0, 5000.0, 7000.0, 0.0, 3000.0], onground=[False] * 4 + [True, False],
    )


def test_snapshot_takes_latest_state_and_extrapolates_to_the_time():
    snap = history().snapshot(at=115.0)
    assert snap.at == 115.0 and snap.is_snapshot
    assert sorted(snap.icao24) == ["a", "b"]  # c is stale, d on the ground, e in the future
    a = np.flatnonzero(snap.icao24 == "a")[0]
    assert snap.altitude[a] == 9010.0
    assert geodesic_distance(50.01, 5.0, snap.lat[a], snap.lon[a]) == pytest.approx(1000.0)
    b = np.flatnonzero(snap.icao24 == "b")[0]
    assert snap.altitude[b] == pytest.approx(5050.0)
    assert geodesic_distance(51.0, 5.0, snap.lat[b], snap.lon[b]) == pytest.approx(1000.0)


def test_snapshot_defaults_to_the_latest_time_and_honours_max_age():
    snap = history().snapshot()
    assert snap.at == 120.0 and sorted(snap.icao24) == ["a", "b", "e"]
    assert sorted(history().snapshot(max_age=200).icao24) == ["a", "b", "c", "e"]


def test_snapshot_of_nothing():
    empty = history().take(np.zeros(6, dtype=bool))
    assert len(empty.snapshot()) == 0


def test_extrapolated_equals_snapshot_on_one_row_per_aircraft_and_keeps_a_row_from_the_future():
    """The station's picture takes `extrapolated` (its tracks hold one row each) instead of `snapshot`;
    the two agree, except that a track reported later than the picture (a receiver clock ahead) is
    shown as reported instead of hidden."""
    latest = history().take(np.array([1, 2, 3, 4]))  # a at 110, b, c (stale), d (on the ground)
    fast, reference = latest.extrapolated(115.0), latest.snapshot(at=115.0)
    order, expected = np.argsort(fast.icao24), np.argsort(reference.icao24)
    for column in ("icao24", "lat", "lon", "heading", "altitude", "time"):
        assert np.array_equal(getattr(fast, column)[order], getattr(reference, column)[expected]), column
    assert fast.at == 115.0
    ahead = history().take(np.array([5])).extrapolated(115.0)
    assert list(ahead.icao24) == ["e"] and ahead.lat[0] == 54.0

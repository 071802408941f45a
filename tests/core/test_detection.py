"""Detection against the brute-force reference, on seeded traffic and on every edge case of SPEC §3."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from deconflict import States, detect, detect_all_pairs
from deconflict.core.detection import DetectionError
from tests.core.reference import classify
from tests.core.traffic import random_traffic

GEOD = Geod(ellps="WGS84")
R, H = 9260.0, 304.8


def index_pairs(conflicts):
    return {tuple(sorted(p)) for p in zip(conflicts.index_a.tolist(), conflicts.index_b.tolist())}


def assert_matches_reference(s: States, lookahead: float, hsep: float = R, vsep: float = H, vtol: float = 0.0):
    found = index_pairs(detect(s, lookahead=lookahead, hsep=hsep, vsep=vsep, vtol=vtol))
    must, maybe = classify(s.lat, s.lon, s.velocity, s.heading, s.altitude, s.vertrate, lookahead, hsep, vsep, vtol)
    missed = must - found
    spurious = found - maybe
    assert not missed, f"missed conflicts {sorted(missed)[:5]}"
    assert not spurious, f"spurious conflicts {sorted(spurious)[:5]}"
    return found, must


REGIONS = {
    "mid-latitude": (45.0, 10.0),
    "antimeridian": (-20.0, 179.9),
    "north pole": (89.5, 0.0),
    "south pole": (-89.9, 120.0),
    "equator": (0.0, -30.0),
}


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("lookahead", [120.0, 300.0, 1200.0])
def test_matches_brute_force_reference(region, lookahead):
    s = random_traffic(seed=hash((region, lookahead)) % 2**32, n=260, center=REGIONS[region], radius_km=120.0)
    found, must = assert_matches_reference(s, lookahead)
    assert len(must) > 5, "the traffic must hold real conflicts for the test to mean anything"


@pytest.mark.parametrize("seed", range(4))
def test_matches_reference_with_other_minima_and_fast_movers(seed):
    s = random_traffic(seed=100 + seed, n=200, radius_km=200.0, fast_fraction=0.05)
    assert_matches_reference(s, 600.0, hsep=3 * 1852.0, vsep=500 * 0.3048)
    assert_matches_reference(s, 900.0, hsep=1000.0, vsep=150.0)


@pytest.mark.parametrize("seed", range(6))
def test_grid_equals_all_pairs_exactly(seed):
    s = random_traffic(seed=seed, n=400, radius_km=300.0, fast_fraction=0.02 * seed)
    for lookahead in (60.0, 300.0, 1800.0):
        grid, full = detect(s, lookahead=lookahead), detect_all_pairs(s, lookahead=lookahead)
        assert grid.pairs() == full.pairs()
        np.testing.assert_array_equal(grid.t_in, full.t_in)
        np.testing.assert_array_equal(grid.d_cpa, full.d_cpa)


def snapshot(rows):
    """rows: (id, lat, lon, speed, track, vertrate, altitude[, party])."""
    columns = list(zip(*rows))
    party = columns[7] if len(columns) > 7 else None
    return States.from_arrays(icao24=columns[0], time=0.0, lat=columns[1], lon=columns[2], velocity=columns[3],
                              heading=columns[4], vertrate=columns[5], altitude=columns[6], party=party, at=0.0)


def only(conflicts):
    assert len(conflicts) == 1, f"expected one conflict, got {len(conflicts)}"
    return next(iter(conflicts))


def test_head_on_on_the_equator_has_the_analytic_times():
    lon_b = np.degrees(100_000.0 / 6378137.0)
    c = only(detect(snapshot([("a1", 0, 0, 200, 90, 0, 9000), ("b1", 0, lon_b, 200, 270, 0, 9000)])))
    assert c["a"] == "a1" and c["b"] == "b1"
    assert c["t_in"] == pytest.approx((100_000 - R) / 400, rel=1e-3)
    assert c["t_cpa"] == pytest.approx(250.0, rel=1e-3)
    assert c["t_out"] == pytest.approx((100_000 + R) / 400, rel=1e-3)
    assert c["d_cpa"] < 1.0 and c["dz_cpa"] == 0.0


def test_across_the_antimeridian():
    c = only(detect(snapshot([("w", 10, 179.95, 200, 90, 0, 9000), ("e", 10, -179.95, 200, 270, 0, 9000)])))
    assert c["t_in"] == 0.0 or c["t_in"] < 20  # 11 km apart, closing at 400 m/s
    assert c["d_cpa"] < 1.0


def test_over_the_pole():
    rows = [("n1", 89.8, 0.0, 250, 0, 0, 11000), ("n2", 89.8, 180.0, 250, 0, 0, 11000)]
    c = only(detect(snapshot(rows), lookahead=300))
    # 44.7 km apart, flying towards each other over the pole at 500 m/s closing
    assert c["t_in"] == pytest.approx((2 * 22_349 - R) / 500, rel=2e-3)
    assert c["d_cpa"] < 10.0


def test_at_the_pole_itself():
    rows = [("p", 90.0, 0.0, 200, 180, 0, 11000), ("q", 89.95, 45.0, 0, 0, 0, 11000)]
    assert len(detect(snapshot(rows))) == 1


def test_co_located_aircraft_are_in_conflict_now():
    c = only(detect(snapshot([("a", 50, 5, 200, 0, 0, 9000), ("b", 50, 5, 150, 90, 0, 9000)])))
    assert c["t_in"] == 0.0 and c["d_cpa"] < 1e-6 + c["d_cpa"]


def test_formation_flight_in_loss_of_separation_is_a_conflict_for_the_whole_lookahead():
    lon2, lat2, _ = GEOD.fwd(5.0, 50.0, 90.0, 1852.0)
    c = only(detect(snapshot([("lead", 50, 5, 220, 0, 0, 9000), ("wing", lat2, lon2, 220, 0, 0, 9100)])))
    assert (c["t_in"], c["t_out"]) == (0.0, 300.0)
    # meridians converge, so the straight-line model has them meet far outside the look-ahead; the
    # closest approach reported is the one within it (SPEC §3), at its end, about 1 NM apart still
    assert c["t_cpa"] == 300.0 and 1800.0 < c["d_cpa"] < 1852.0


def test_identical_states_are_a_conflict_with_closest_approach_now():
    c = only(detect(snapshot([("lead", 50, 5, 220, 0, 0, 9000), ("wing", 50, 5, 220, 0, 0, 9000)])))
    assert (c["t_in"], c["t_out"], c["t_cpa"], c["d_cpa"], c["dz_cpa"]) == (0.0, 300.0, 0.0, 0.0, 0.0)


def test_formation_outside_the_minimum_is_no_conflict():
    lon2, lat2, _ = GEOD.fwd(5.0, 50.0, 90.0, 6 * 1852.0)
    assert len(detect(snapshot([("lead", 50, 5, 220, 0, 0, 9000), ("wing", lat2, lon2, 220, 0, 0, 9000)]))) == 0


def test_level_exactly_at_the_vertical_minimum_is_separated():
    rows = [("a", 50, 5, 200, 0, 0, 9000.0), ("b", 50, 5, 200, 180, 0, 9000.0 + H)]
    assert len(detect(snapshot(rows))) == 0
    rows[1] = ("b", 50, 5, 200, 180, 0, 9000.0 + H - 0.01)
    assert len(detect(snapshot(rows))) == 1
    feet = 0.3048
    rows = [("a", 50, 5, 200, 0, 0, 9000 * feet), ("b", 50, 5, 200, 180, 0, 10000 * feet)]  # FL90 / FL100
    assert len(detect(snapshot(rows))) == 0


def test_climb_through_a_level():
    lon2, lat2, _ = GEOD.fwd(5.0, 50.0, 90.0, 1000.0)
    rows = [("climber", 50, 5, 200, 0, 10.0, 3000.0), ("level", lat2, lon2, 200, 0, 0.0, 4000.0)]
    c = only(detect(snapshot(rows)))
    assert c["t_in"] == pytest.approx((1000 - H) / 10)
    assert c["t_out"] == pytest.approx((1000 + H) / 10)


def test_vertical_tolerance_for_level_pairs_only():
    apart = 950 * 0.3048
    rows = [("a", 50, 5, 200, 0, 0.0, 9000.0), ("b", 50, 5, 200, 180, 0.0, 9000.0 + apart)]
    assert len(detect(snapshot(rows))) == 1
    assert len(detect(snapshot(rows), vtol=200 * 0.3048)) == 0
    assert len(detect(snapshot(rows), vtol=30 * 0.3048)) == 1  # 950 ft < 1000 - 30 ft
    rows[0] = ("a", 50, 5, 200, 0, 2.0, 9000.0)  # climbing: no tolerance
    assert len(detect(snapshot(rows), vtol=200 * 0.3048)) == 1


def test_conflict_just_beyond_the_lookahead_is_not_reported():
    lon_b = np.degrees(200_000.0 / 6378137.0)
    rows = [("a", 0, 0, 200, 90, 0, 9000), ("b", 0, lon_b, 200, 270, 0, 9000)]  # LoS at ~476.9 s
    assert len(detect(snapshot(rows), lookahead=470)) == 0
    assert len(detect(snapshot(rows), lookahead=480)) == 1


def test_diverging_pair_that_was_close_is_not_a_conflict():
    lon2, lat2, _ = GEOD.fwd(5.0, 50.0, 90.0, 10_000.0)
    rows = [("a", 50, 5, 200, 270, 0, 9000), ("b", lat2, lon2, 200, 90, 0, 9000)]
    assert len(detect(snapshot(rows))) == 0


def test_pairs_are_ordered_and_rows_sorted():
    s = random_traffic(seed=7, n=300)
    c = detect(s)
    assert len(c) > 10
    assert all(a < b for a, b in zip(c.a, c.b))
    keys = list(zip(c.t_in.tolist(), c.a.tolist(), c.b.tolist()))
    assert keys == sorted(keys)
    assert np.all((0 <= c.t_in) & (c.t_in < c.t_out) & (c.t_out <= 300.0))


def test_between_parties_keeps_only_known_different_parties():
    s = random_traffic(seed=11, n=300)
    everything = detect(s)
    between = detect(s, between_parties=True)
    expected = {(a, b) for a, b, pa, pb in zip(everything.a, everything.b, everything.party_a, everything.party_b)
                if pa and pb and pa != pb}
    assert between.pairs() == expected and 0 < len(expected) < len(everything)


def test_empty_and_single_aircraft():
    assert len(detect(snapshot([("a", 50, 5, 200, 0, 0, 9000)]))) == 0
    empty = States.from_arrays(icao24=[], time=[], lat=[], lon=[], velocity=[], heading=[], vertrate=[], altitude=[],
                               at=0.0)
    assert len(detect(empty)) == 0


@pytest.mark.parametrize("bad", [dict(lookahead=0), dict(hsep=-1), dict(vsep=float("nan")), dict(vtol=400.0)])
def test_bad_parameters_are_rejected(bad):
    with pytest.raises(DetectionError):
        detect(snapshot([("a", 50, 5, 200, 0, 0, 9000)]), **bad)


def test_conversion_to_pandas_and_arrow():
    c = detect(random_traffic(seed=3, n=200))
    frame, table = c.to_pandas(), c.to_arrow()
    assert list(frame.columns) == ["a", "b", "party_a", "party_b", "t_in", "t_out", "t_cpa", "d_cpa", "dz_cpa"]
    assert len(frame) == len(c) == table.num_rows

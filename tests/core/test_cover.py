"""Private plan check covers (issue 15): two volumes the exact test finds in conflict always share a
token, on designed polar and antimeridian cases and on random volumes at the equator and mid
latitudes, margins 0 to 100 km, altitude bands and time windows that just touch: zero misses."""

from __future__ import annotations

import numpy as np
import pytest

from deconflict.core.cover import CoverError, CoverGrid, cover_digest, plan_cover, volume_cover
from deconflict.core.plans import Plan, Recurrence
from deconflict.core.volumes import Circle, Volume4D, overlap
from tests.core.test_bounds import T0, _polygon_near


def _volumes(places, rng, per_place=3):
    volumes = []
    for place in places:
        for shape in ("circle", "quad", "triangle", "cap")[:per_place + 1]:
            size = float(rng.uniform(2_000, 60_000))
            try:
                footprint = Circle(*place, size) if shape == "circle" else _polygon_near(place, size, shape, rng)
            except Exception:  # a random polygon that is not simple
                continue
            low = float(rng.choice([0.0, 590.0, 600.0, 1200.0]))  # bands that touch at a band edge
            start = T0 + float(rng.choice([0.0, 1799.0, 1800.0, 3600.0]))
            volumes.append(Volume4D(footprint, low, low + float(rng.uniform(50, 2000)), start,
                                    start + float(rng.uniform(60, 4000))))
    return volumes


def _misses(volumes, grid):
    covers = [volume_cover(v, grid) for v in volumes]
    exact = [(i, j) for i in range(len(volumes)) for j in range(i + 1, len(volumes))
             if overlap(volumes[i], volumes[j], grid.margin) is not None]
    return exact, [(i, j) for i, j in exact if not covers[i] & covers[j]]


@pytest.mark.parametrize("margin", [0.0, 1000.0, 20_000.0, 100_000.0])
def test_every_polar_and_antimeridian_conflict_shares_a_token(margin):
    rng = np.random.default_rng(11)
    places = [(89.9, 0.0), (89.95, 180.0), (-89.97, 90.0), (-89.9, -90.0), (0.0, 179.99), (0.01, -179.99),
              (85.0, 179.5), (85.1, -179.5), (89.0, 30.0), (88.95, -150.0), (60.0, 180.0), (60.05, -179.95)]
    exact, missed = _misses(_volumes(places, rng), CoverGrid(margin=margin))
    assert exact and not missed


@pytest.mark.parametrize("margin", [0.0, 5000.0, 100_000.0])
def test_every_random_conflict_shares_a_token(margin):
    rng = np.random.default_rng(int(margin) + 5)
    places = [(float(rng.uniform(-70, 70)), float(rng.uniform(-180, 180))) for _ in range(4)]
    places = [p for c in places for p in (c, (c[0] + rng.uniform(-0.6, 0.6), c[1] + rng.uniform(-0.6, 0.6)),
                                          (c[0] + rng.uniform(-0.3, 0.3), c[1] + rng.uniform(-0.3, 0.3)))]
    exact, missed = _misses(_volumes(places, rng), CoverGrid(margin=margin, row_degrees=0.1))
    assert exact and not missed


def test_far_apart_volumes_share_none_and_covers_stay_small():
    grid = CoverGrid()
    a = Volume4D(Circle(45.0, 5.0, 20_000.0), 6000.0, 9000.0, T0, T0 + 3600)
    b = Volume4D(Circle(45.0, 8.0, 20_000.0), 6000.0, 9000.0, T0, T0 + 3600)
    c = Volume4D(Circle(45.0, 5.0, 20_000.0), 6000.0, 9000.0, T0 + 7200, T0 + 9000)  # later, same place
    assert not volume_cover(a, grid) & volume_cover(b, grid)
    assert not volume_cover(a, grid) & volume_cover(c, grid)
    assert len(volume_cover(a, grid)) < 200


def test_a_continent_sized_volume_is_refused_and_recurring_plans_are_covered_in_the_window():
    with pytest.raises(CoverError, match="tokens"):
        volume_cover(Volume4D(Circle(0.0, 0.0, 1_000_000.0), 0.0, 20_000.0, T0, T0 + 86_400 * 30), CoverGrid())
    from datetime import date, datetime, timezone

    day = datetime.fromtimestamp(T0, tz=timezone.utc).date()
    daily = Plan("d", "south", (Volume4D(Circle(44.0, 5.0, 10_000.0), 0.0, 3000.0, 0.0, 1800.0),),
                 recurrence=Recurrence((6 * 3600.0,), day, date.fromordinal(day.toordinal() + 3), None))
    midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()
    two_days = plan_cover(daily, CoverGrid(), midnight, midnight + 2 * 86_400)
    assert len({token.split("|")[4] for token in two_days}) == 4  # two days; 06:00-06:30 ends on a bucket edge: 2 a day
    assert cover_digest(two_days) != cover_digest(list(two_days)[1:])  # a token dropped changes the digest

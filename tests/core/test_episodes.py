"""Loss-of-separation episodes in histories: interpolation across gaps, and the id factorisation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from deconflict import States
from deconflict.core.episodes import _factorize, loss_episodes


@given(st.lists(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=400), max_size=10), min_size=1))
def test_factorize_matches_numpy_unique(values):
    ids = np.array(values, dtype=str)
    distinct, code = _factorize(ids)
    expected, inverse = np.unique(ids, return_inverse=True)
    assert distinct.tolist() == expected.tolist() and code.tolist() == inverse.tolist()


def pair_history(gap: float) -> States:
    """Two aircraft on the same track 2 NM apart, one reporting every 5 s, the other with a ``gap`` s hole."""
    times = np.arange(0.0, 300.0, 5.0)
    other = times[(times < 100) | (times >= 100 + gap)]
    lon_a = times * 200.0 / 111_320.0
    lon_b = 2 * 1852.0 / 111_320.0 + other * 200.0 / 111_320.0
    return States.from_arrays(icao24=["a"] * times.size + ["b"] * other.size, time=np.concatenate((times, other)),
                              lat=0.0, lon=np.concatenate((lon_a, lon_b)), velocity=200.0, heading=90.0,
                              vertrate=0.0, altitude=9000.0)


def test_gaps_are_bridged_up_to_the_limit():
    bridged = loss_episodes(pair_history(gap=40.0), step=5.0, max_gap=60.0).to_pandas()
    assert len(bridged) == 1 and bridged.start[0] == 0.0
    assert bridged.duration[0] == pytest.approx(295.0 - 5.0, abs=5.0)
    assert bridged.min_distance[0] == pytest.approx(2 * 1852.0, rel=0.01)
    split = loss_episodes(pair_history(gap=80.0), step=5.0, max_gap=60.0).to_pandas()
    assert len(split) == 2  # the 85 s hole is not interpolated over: two episodes around it
    assert split.end[0] < 100.0 < 180.0 <= split.start[1] + 5.0

"""Scenario files: the bundled ones, every field's units, and one-line errors naming the field."""

from __future__ import annotations

import pytest

from deconflict.core.units import FOOT, KNOT, NAUTICAL_MILE
from deconflict.io.scenario import ScenarioError, load_scenario

MINIMAL = """
name: two
duration: 30min
step: 2s
separation: {hsep: 3nm, vsep: 1000ft}
lookahead: 2min
resolution: {method: mvp, dimensions: both, margin: 1.2, delay: 10s, manoeuvring: [blue], resume: cpa, hold_level: false}
performance: {bank_angle: 30, vertrate_limit: 2000ft/min}
aircraft:
  - id: BLU1
    party: blue
    start: 1min
    speed: 300kt
    route:
      - {lat: 50.0, lon: 8.0, altitude: FL300}
      - {lat: 50.0, lon: 9.0}
      - {lat: 50.5, lon: 9.5, altitude: 9000m}
"""


def write(tmp_path, text):
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


def test_every_field_with_units(tmp_path):
    scenario = load_scenario(write(tmp_path, MINIMAL))
    s = scenario.settings
    assert (s.duration, s.step, s.lookahead) == (1800.0, 2.0, 120.0)
    assert s.hsep == pytest.approx(3 * NAUTICAL_MILE) and s.vsep == pytest.approx(1000 * FOOT)
    assert s.resolver.dimensions == "both" and s.resolver.margin == 1.2 and s.resolver.delay == 10.0
    assert s.resolver.manoeuvring == frozenset({"blue"}) and s.resolver.resume == "cpa" and not s.resolver.hold_level
    assert s.bank_angle == 30 and s.vertrate_limit == pytest.approx(2000 * FOOT / 60)
    f = scenario.flights
    assert f.icao24.tolist() == ["BLU1"] and f.start.tolist() == [60.0]
    assert f.speed[0] == pytest.approx(300 * KNOT)
    # the second waypoint keeps the altitude of the first
    assert f.waypoint_altitude.tolist() == pytest.approx([30000 * FOOT, 30000 * FOOT, 9000.0])


def test_bundled_scenarios():
    encounters = load_scenario("encounters")
    assert len(encounters.flights) == 8 and encounters.source == "encounters (bundled)"
    dense = load_scenario("dense")
    assert len(dense.flights) > 500 and set(dense.flights.party.tolist()) == {"blue", "orange", "cargo"}


@pytest.mark.parametrize("change, message", [
    (("duration: 30min", "duration: 30"), "duration: '30' has no unit"),
    (("lat: 50.0, lon: 8.0", "lat: 50.0, lon: 181"), "aircraft[0].route[0].lon: Input should be less than or equal to 180"),
    (("altitude: FL300", "altitude: high"), "aircraft[0].route[0].altitude: 'high' is not an altitude"),
    (("      - {lat: 50.0, lon: 8.0, altitude: FL300}\n", "      - {lat: 50.0, lon: 8.0}\n"),
     "aircraft[0]: the first waypoint needs an altitude"),
    (("    party: blue", "    party: blue\n    colour: blue"), "aircraft[0].colour: Extra inputs are not permitted"),
    (("method: mvp", "method: tcas"), "resolution.method: Input should be 'mvp' or 'none'"),
    (("margin: 1.2", "margin: 0.5"), "resolution.margin: Input should be greater than or equal to 1"),
    (("resume: cpa", "resume: never"), "resolution.resume: Input should be 'route' or 'cpa'"),
])
def test_errors_name_the_field(tmp_path, change, message):
    with pytest.raises(ScenarioError) as error:
        load_scenario(write(tmp_path, MINIMAL.replace(*change)))
    assert message in str(error.value) and str(tmp_path / "scenario.yaml") in str(error.value)
    assert "\n" not in str(error.value)


def test_file_level_errors(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read scenario.*bundled scenarios: dense, encounters"):
        load_scenario(tmp_path / "missing.yaml")
    with pytest.raises(ScenarioError, match="expected a mapping"):
        load_scenario(write(tmp_path, "- just\n- a list\n"))
    with pytest.raises(ScenarioError, match="needs aircraft, traffic, or both"):
        load_scenario(write(tmp_path, "duration: 1h\n"))
    with pytest.raises(ScenarioError, match="ids must be unique"):
        load_scenario(write(tmp_path, MINIMAL + MINIMAL[MINIMAL.index("  - id: BLU1"):]))

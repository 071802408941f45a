"""`deconflict plans conformance`: a recording held to the plans naming its aircraft, by the live rules
(issue 15): the fighter that left its box for 40 s is listed once, with how far out it went; the one
that stayed in is not; plans naming no aircraft fail with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone

T0 = 1_800_000_000.0


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat()


def test_a_fighter_that_left_its_box_is_listed_once(tmp_path):
    plans = tmp_path / "plans.yaml"
    plans.write_text(f"""plans:
  - id: CAP
    party: north
    aircraft: [f1, f2]
    volumes:
      - polygon: [[45.0, 5.0], [45.2, 5.0], [45.2, 5.4], [45.0, 5.4]]
        altitude: [FL180, FL220]
        time: ['{_iso(T0)}', '{_iso(T0 + 3600)}']
""")
    rows = ["time,icao24,lat,lon,velocity,heading,vertrate,callsign,onground,baroaltitude,geoaltitude,party"]
    for k in range(120):  # one report a second; f1 is 4.4 km south of the box from 30 s to 70 s
        t = T0 + 600 + k
        lat = 44.96 if 30 <= k < 70 else 45.1
        rows.append(f"{t},f1,{lat},5.2,5.0,180.0,0.0,HAWK1,False,6096.0,6100.0,north")
        rows.append(f"{t},f2,45.1,5.3,5.0,180.0,0.0,HAWK2,False,6096.0,6100.0,north")
    states = tmp_path / "states.csv"
    states.write_text("\n".join(rows) + "\n")
    out = tmp_path / "episodes.csv"
    result = subprocess.run([sys.executable, "-m", "deconflict.cli", "plans", "conformance", str(plans), "--states",
                             str(states), "-o", str(out)], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    header, *episodes = out.read_text().splitlines()
    assert len(episodes) == 1
    icao24, party, plans_left, start, end, lateral, *_ = episodes[0].split(",")
    assert (icao24, party, plans_left) == ("f1", "north", "CAP")
    assert (datetime.fromisoformat(start).timestamp(), datetime.fromisoformat(end).timestamp()) == (T0 + 630, T0 + 669)
    assert abs(float(lateral) - 4440.0) < 60.0
    assert "2 aircraft held to 1 plans, 1 nonconformances" in result.stderr


def test_plans_naming_no_aircraft_fail_with_one_line(tmp_path):
    plans = tmp_path / "plans.yaml"
    plans.write_text(f"""plans:
  - id: CAP
    volumes:
      - circle: {{lat: 45.0, lon: 5.0, radius: 5km}}
        altitude: [FL180, FL220]
        time: ['{_iso(T0)}', '{_iso(T0 + 3600)}']
""")
    result = subprocess.run([sys.executable, "-m", "deconflict.cli", "plans", "conformance", str(plans), "--states",
                             str(tmp_path / "none.csv")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "no plan names an aircraft" in result.stderr
    assert result.stderr.count("\n") == 1

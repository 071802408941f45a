"""The `deconflict` command line, SPEC §4: outputs, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from deconflict.cli import main

HEADER = "time,icao24,lat,lon,velocity,heading,vertrate,baroaltitude,party\n"
ROWS = [
    "100,aaaaaa,50.0,5.0,200,90,0,9000,blue\n",
    "100,bbbbbb,50.0,5.2,200,270,0,9000,red\n",
    "100,cccccc,50.0,5.4,200,270,0,9000,blue\n",
    "30,dddddd,50.0,5.1,200,270,0,9000,red\n",  # stale at 100 s with the default 60 s
]


@pytest.fixture
def states_file(tmp_path) -> Path:
    path = tmp_path / "states.csv"
    path.write_text(HEADER + "".join(ROWS))
    return path


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def csv_rows(text: str):
    lines = text.strip().splitlines()
    return [dict(zip(lines[0].replace('"', "").split(","), line.replace('"', "").split(","))) for line in lines[1:]]


def test_detect_to_stdout(states_file, capsys):
    code, out, err = run(["detect", str(states_file)], capsys)
    assert code == 0
    rows = csv_rows(out)
    assert {(r["a"], r["b"]) for r in rows} == {("aaaaaa", "bbbbbb"), ("aaaaaa", "cccccc")}
    assert err.strip().splitlines()[-1].startswith("3 aircraft, 2 conflicts within 5 min (5 NM / 1000 ft)")


def test_max_age_and_at(states_file, capsys):
    _, out, _ = run(["detect", str(states_file), "--max-age", "2min"], capsys)
    assert ("aaaaaa", "dddddd") in {(r["a"], r["b"]) for r in csv_rows(out)}
    _, out, err = run(["detect", str(states_file), "--at", "50"], capsys)
    assert csv_rows(out) == [] and err.startswith("1 aircraft, 0 conflicts")
    _, _, err = run(["detect", str(states_file), "--at", "1970-01-01T00:01:40Z"], capsys)
    assert err.startswith("3 aircraft")


def test_between_parties(states_file, capsys):
    _, out, _ = run(["detect", str(states_file), "--between-parties"], capsys)
    assert {(r["a"], r["b"]) for r in csv_rows(out)} == {("aaaaaa", "bbbbbb")}


def test_minima_and_lookahead_options(states_file, capsys):
    _, out, _ = run(["detect", str(states_file), "--hsep", "1km", "--lookahead", "10s"], capsys)
    assert csv_rows(out) == []
    _, out, _ = run(["detect", str(states_file), "--vsep", "100ft", "--hsep", "20km", "--lookahead", "1h"], capsys)
    assert len(csv_rows(out)) == 3


@pytest.mark.parametrize("name", ["c.csv", "c.csv.gz", "c.parquet"])
def test_output_files(states_file, tmp_path, capsys, name):
    code, out, _ = run(["detect", str(states_file), "-o", str(tmp_path / name)], capsys)
    assert code == 0 and out == ""
    table = pq.read_table(tmp_path / name) if name.endswith("parquet") else pacsv.read_csv(tmp_path / name)
    assert table.num_rows == 2


@pytest.mark.parametrize("argv, message", [
    (["detect", "{f}", "--hsep", "5"], "error: --hsep: '5' has no unit"),
    (["detect", "{f}", "--lookahead", "5nm"], "error: --lookahead: unknown unit 'nm'"),
    (["detect", "{f}", "--at", "yesterday"], "error: --at: 'yesterday' is not a time"),
    (["detect", "{f}", "--vtol", "2000ft"], "error: --vtol: expected at least 0 and less than --vsep"),
    (["detect", "nowhere.csv"], "error: nowhere.csv: no such file"),
    (["detect"], "error: Missing argument 'input'"),
    (["detect", "{f}", "--bogus"], "error: No such option: --bogus"),
    (["detect", "{f}", "-o", "out.xlsx"], "error: out.xlsx: unknown output type"),
])
def test_usage_errors_are_one_line_and_exit_2(states_file, capsys, argv, message):
    code, out, err = run([a.replace("{f}", str(states_file)) for a in argv], capsys)
    assert code == 2
    assert err.startswith(message), err
    assert len(err.strip().splitlines()) == 1


def test_missing_column_as_a_user_would_see_it(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("time,icao24,lat\n1,a,2\n")
    result = subprocess.run([sys.executable, "-m", "deconflict.cli", "detect", str(path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {path}: missing required columns lon, velocity, heading, vertrate " \
        "(required: time, icao24, lat, lon, velocity, heading, vertrate and one of baroaltitude, geoaltitude)"
    assert "Traceback" not in result.stderr


def test_bad_rows_are_reported_and_the_rest_detected(tmp_path, capsys):
    path = tmp_path / "s.csv"
    path.write_text(HEADER + "".join(ROWS[:2]) + "100,eeeeee,95,5,200,90,0,9000,\n")
    code, out, err = run(["detect", str(path)], capsys)
    assert code == 0 and len(csv_rows(out)) == 1
    assert f"{path}: 1 bad row skipped (line 4: lat outside [-90, 90])" in err


def test_bundled_snapshot_shows_its_conflicts(capsys):
    from importlib import resources

    import pandas as pd

    sample = resources.files("deconflict") / "data" / "sample_states.csv"
    ids = pd.read_csv(sample, dtype=str).dropna(subset=["callsign"]).set_index("callsign")["icao24"].to_dict()
    code, out, _ = run(["detect", str(sample)], capsys)
    assert code == 0
    pairs = {(row["a"], row["b"]): float(row["t_in"]) for row in csv_rows(out)}
    head_on = tuple(sorted((ids["BLU901"], ids["ORG901"])))
    assert head_on in pairs  # the head-on pair of the two air forces
    assert any(t_in == 0.0 for t_in in pairs.values())  # the blue formation is already in loss of separation
    assert not any(ids["ORG990"] in pair for pair in pairs)  # stale track


def test_simulate_encounters_writes_table_metrics_and_plots(tmp_path, capsys):
    import json

    code, out, _ = run(["simulate", "encounters", "--out", str(tmp_path / "sim")], capsys)
    assert code == 0
    assert "no resolution" in out and "MVP cooperative" in out
    assert "removes 100.0 % of losses of separation" in out
    figures = json.loads((tmp_path / "sim" / "metrics.json").read_text())["runs"]
    assert figures["no resolution"]["losses"] == 4 and figures["MVP cooperative"]["losses"] == 0
    for name in ("timeline.png", "map.png"):
        data = (tmp_path / "sim" / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000


def test_simulate_options(tmp_path, capsys):
    import json

    code, out, _ = run(["simulate", "encounters", "--resolution", "none", "--duration", "5min", "--no-plots",
                        "--out", str(tmp_path / "sim")], capsys)
    assert code == 0
    figures = json.loads((tmp_path / "sim" / "metrics.json").read_text())["runs"]
    assert list(figures) == ["no resolution"] and figures["no resolution"]["simulated_seconds"] == 300
    assert not (tmp_path / "sim" / "map.png").exists()


def test_simulate_baseline_options_and_a_bad_value(tmp_path, capsys):
    import json

    code, out, _ = run(["simulate", "encounters", "--resume", "cpa", "--no-hold-level", "--no-compare", "--no-plots",
                        "--out", str(tmp_path / "sim")], capsys)
    assert code == 0 and "resume past CPA, no level holds" in out
    figures = json.loads((tmp_path / "sim" / "metrics.json").read_text())["runs"]
    assert list(figures) == ["MVP cooperative, resume past CPA, no level holds"]
    assert figures["MVP cooperative, resume past CPA, no level holds"]["losses"] == 0
    assert figures["MVP cooperative, resume past CPA, no level holds"]["flights_off_final_level"] == 0
    code, out, _ = run(["simulate", "encounters", "--baseline", "--no-plots", "--out", str(tmp_path / "three")], capsys)
    assert code == 0
    assert "MVP baseline removes 100.0 %, MVP cooperative removes 100.0 % of losses of separation" in " ".join(out.split())
    figures = json.loads((tmp_path / "three" / "metrics.json").read_text())["runs"]
    assert list(figures) == ["no resolution", "MVP baseline", "MVP cooperative"]
    code, _, err = run(["simulate", "encounters", "--resume", "later"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--resume: expected route or cpa, got 'later'" in err


@pytest.mark.parametrize("content, message", [
    ("duration: 1h\naircraft:\n  - {id: A, speed: 250, route: [{lat: 1, lon: 2, altitude: FL100}, {lat: 2, lon: 2}]}\n",
     "aircraft[0].speed: '250' has no unit"),
    ("duration: 1h\naircraft:\n  - {id: A, speed: 250kt, route: [{lat: 91, lon: 2, altitude: FL100}, {lat: 2, lon: 2}]}\n",
     "aircraft[0].route[0].lat: Input should be less than or equal to 90"),
    ("duration: 1h\n  aircraft: [\n", "line 2: not valid YAML"),
])
def test_simulate_bad_scenarios_are_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    code, _, err = run(["simulate", str(path)], capsys)
    assert code == 2
    assert err.count("\n") == 1 and message in err and str(path) in err


def test_alerts_levels_and_standards(states_file, capsys):
    code, out, err = run(["alerts", str(states_file)], capsys)
    assert code == 0
    rows = csv_rows(out)
    # aaaaaa and bbbbbb are 0.2 deg of longitude (7.7 NM) apart, head-on closing at 400 m/s: loss in 13 s
    assert {(r["a"], r["b"]): r["level_name"] for r in rows}[("aaaaaa", "bbbbbb")] == "warning"
    assert "en-route" in err and "warning" in err
    code, _, err = run(["alerts", str(states_file), "--standard", "oceanic"], capsys)
    assert code == 2 and "unknown separation standard 'oceanic'" in err


def test_bands_of_one_aircraft(states_file, capsys):
    code, out, _ = run(["bands", str(states_file), "cccccc"], capsys)
    assert code == 0
    assert "conflict bands" in out and "track" in out and "smallest manoeuvre" in out
    code, _, err = run(["bands", str(states_file), "zzzzzz"], capsys)
    assert code == 2 and "'zzzzzz' is not in the snapshot" in err


def test_plans_check_bundled_files(tmp_path, capsys):
    import json
    from importlib import resources

    folder = resources.files("deconflict") / "data" / "plans"
    out = tmp_path / "conflicts.geojson"
    code, stdout, err = run(["plans", "check", str(folder / "airbase.geojson"), str(folder / "schedules.yaml"),
                             "-o", str(out)], capsys)
    assert code == 0
    assert "3 plan conflicts" in stdout and "blocked" in stdout
    assert "4 plans, 3 conflicts, 2 plan(s) would be rejected: ORG-BOX, BLU-PATROL" in err
    features = json.loads(out.read_text())["features"]
    assert {(f["properties"]["plan"], f["properties"]["other"]) for f in features} == {
        ("ORG-BOX", "BLU-CAP"), ("CGO-DAILY", "BLU-CAP"), ("BLU-PATROL", "BLU-CAP")}
    assert all(f["geometry"]["type"] == "Polygon" for f in features)
    code, _, err = run(["plans", "check", str(folder / "airbase.geojson"), "--equal-priority", "coin"], capsys)
    assert code == 2 and "equal-priority policy" in err


def test_plans_export_f3548_and_check_the_intents(tmp_path, capsys):
    import json
    from importlib import resources

    folder = resources.files("deconflict") / "data" / "plans"
    intents = tmp_path / "intents.json"
    code, _, err = run(["plans", "export-f3548", str(folder / "airbase.geojson"), "-o", str(intents)], capsys)
    assert code == 0 and "2 operational intents written" in err
    written = json.loads(intents.read_text())
    assert all(v["volume"]["altitude_lower"]["reference"] == "W84" for i in written for v in i["details"]["volumes"])
    code, stdout, err = run(["plans", "check", str(intents)], capsys)
    assert code == 0 and "2 plans" in err  # the same plans, read back as F3548 (their overlaps widened by the datum)
    code, _, err = run(["plans", "export-f3548", str(folder / "schedules.yaml"), "-o", str(tmp_path / "x.json")], capsys)
    assert code == 2 and "recurring plans have no F3548 form" in err


def test_plans_check_bad_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("plans:\n  - id: X\n    volumes:\n      - circle: {lat: 50, lon: 10, radius: 1km}\n"
                    "        altitude: [200m, 100m]\n        time: [2015-10-20T06:00:00Z, 2015-10-20T07:00:00Z]\n")
    code, _, err = run(["plans", "check", str(path)], capsys)
    assert code == 2 and err.count("\n") == 1 and "plan 'X': volumes[0]: altitude band inverted" in err


def test_station_replay_shows_tracks_alerts_and_counts(tmp_path, capsys):
    from tests.io.test_station import head_on_feed

    feed = tmp_path / "feed.sbs"
    feed.write_text(head_on_feed() + "MSG,broken\n")
    out = tmp_path / "tracks.parquet"
    code, stdout, _ = run(["station", "--replay", str(feed), "--parquet", str(out)], capsys)
    assert code == 0
    assert "aaa001" in stdout and "bbb002" in stdout and "warning" in stdout
    assert "not an SBS MSG line: 1" in stdout
    assert out.exists()


@pytest.mark.parametrize("argv, message", [
    (["station"], "give either --replay FILE or --connect HOST:PORT"),
    (["station", "--connect", "nowhere"], "--connect: 'nowhere' is not HOST:PORT"),
    (["station", "--replay", "missing.bin"], "missing.bin: cannot open recording"),
    (["station", "--replay", "x.sbs", "--receiver", "north"], "--receiver: 'north' is not LAT,LON"),
    (["station", "--connect", "127.0.0.1:1", "--attempts", "1"], "127.0.0.1:1 (avr): nothing read (1 connection failures)"),
    (["station", "--connect", "tcp://127.0.0.1:1", "--attempts", "1"], "(asterix): nothing read"),
    (["station", "--connect", "tcp://127.0.0.1:1", "--format", "json"], "--format json: a TCP feed is avr, beast, sbs or asterix"),
])
def test_station_usage_errors(capsys, argv, message):
    code, _, err = run(argv, capsys)
    assert code == 2 and message in err and err.count("\n") == 1


def test_scan_writes_episodes_and_reports_bad_files(tmp_path, capsys):
    from tests.io.test_archive import crossing_archive

    path = crossing_archive(tmp_path / "a.parquet")
    out = tmp_path / "episodes.parquet"
    code, stdout, err = run(["scan", str(path), str(tmp_path / "missing.parquet"), "--scheduler", "none",
                             "-o", str(out)], capsys)
    assert code == 0
    assert "aaaaaa / bbbbbb" in stdout and "1 losses of separation" in stdout
    assert "missing.parquet" in err and "1 episodes" in err
    assert pq.read_table(out).num_rows == 1
    code, _, err = run(["scan", str(path), "--vtol", "2000ft"], capsys)
    assert code == 2 and "--vtol: expected at least 0 and less than --vsep" in err


def test_admin_creates_lists_and_revokes(tmp_path, capsys):
    db = str(tmp_path / "admin.db")
    assert run(["admin", "add-party", "north", "--title", "North AF", "--db", db], capsys)[0] == 0
    code, out, _ = run(["admin", "add-member", "ann", "--party", "north", "--db", db], capsys)
    assert code == 0 and out.strip().startswith("dcf_")
    assert run(["admin", "revoke", "1", "--db", db], capsys)[0] == 0
    code, out, _ = run(["admin", "list", "--db", db], capsys)
    assert "party\tnorth\tactive\tNorth AF" in out and "member\t1\tann\tnorth\toperator\trevoked" in out
    code, _, err = run(["admin", "revoke", "9", "--db", db], capsys)
    assert code == 2 and err.strip() == "error: no member 9"
    code, _, err = run(["admin", "add-member", "x", "--role", "boss", "--party", "north", "--db", db], capsys)
    assert code == 2 and "expected one of operator, observer, cell" in err


def test_admin_leaves_a_running_services_conflicts_alone(tmp_path, capsys):
    from tests.service.builders import head_on, tracks
    from tests.service.conftest import make_world

    w = make_world(str(tmp_path / "live.db"), tmp_path)
    with w.clients["cell"]:
        mine, theirs = head_on()
        w["alpha_op"].post("/v1/tracks", json=tracks(mine))
        w["bravo_op"].post("/v1/tracks", json=tracks(theirs))
        w.service.detect_now()
        assert run(["admin", "add-party", "charlie", "--db", str(tmp_path / "live.db")], capsys)[0] == 0
        assert "service restarted" not in w["cell"].get("/v1/audit/chain").text
    w.service.close()


@pytest.mark.parametrize("arguments, message", [
    (["scan", "{sample}", "--scheduler", "foo"], "--scheduler: expected local, none or tcp://HOST:PORT, got 'foo'"),
    (["scan", "{sample}", "--scheduler", "none", "--from", "2030-01-01T00:00:00Z", "--to", "2020-01-01T00:00:00Z"],
     "--from 2030-01-01T00:00:00Z is after --to"),
    (["scan", "{missing}", "--scheduler", "none"], "no such file"),
    (["scan", "{sample}", "--scheduler", "none", "-o", "out.xlsx"], "unknown output type"),
    (["detect", "{sample}", "--at", "0"], "no aircraft at --at 0: the data starts at"),
    (["detect", "{sample}", "-o", "out.xlsx"], "unknown output type"),
    (["detect", "{sample}", "--hsep", "-5nm"], "--hsep: must be more than zero, got '-5nm'"),
    (["alerts", "{sample}", "--at", "2000-01-01T00:00:00Z"], "no aircraft at --at"),
    (["admin", "add-member", "x", "--role", "cell", "--party", "north", "--db", "{db}"], "the cell belongs to no party"),
])
def test_nothing_usable_and_bad_usage_fail_loudly_in_one_line(arguments, message, tmp_path, capsys):
    """Each of these used to exit 0 with nothing, print a traceback, or do the work before refusing."""
    sample = Path(__file__).resolve().parents[1] / "src" / "deconflict" / "data" / "sample_states.csv"
    filled = [a.format(sample=sample, missing=tmp_path / "missing.csv", db=tmp_path / "x.db") for a in arguments]
    code, out, err = run(filled, capsys)
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err


def test_every_row_bad_is_a_failure(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("time,icao24,lat,lon,velocity,heading,vertrate,baroaltitude\n1,a,95,0,200,90,0,9000\n")
    code, _, err = run(["detect", str(path)], capsys)
    assert code == 2 and "nothing usable read" in err


def test_version(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.startswith("deconflict ")


def test_help_loads_no_numeric_library():
    """`deconflict --help` took 1.6 s importing numba, pyarrow, pandas and Dask up front; the commands
    now import what they need when they run."""
    probe = ("import sys, deconflict.cli; "
             "print(sorted(m for m in ('numpy', 'numba', 'pyarrow', 'pandas', 'dask', 'fastapi') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    shown = subprocess.run([sys.executable, "-m", "deconflict.cli", "--help"], capture_output=True, text=True)
    assert shown.returncode == 0 and "detect" in shown.stdout and "scan" in shown.stdout


def test_detect_on_a_terminal_prints_a_table_for_a_person(tmp_path):
    """On a terminal the conflict table reads in NM, ft and minutes with callsigns; piped it stays CSV."""
    import pty

    sample = Path(__file__).resolve().parents[1] / "src" / "deconflict" / "data" / "sample_states.csv"
    parent, child = pty.openpty()
    done = subprocess.run([sys.executable, "-m", "deconflict.cli", "detect", str(sample)], stdout=child,
                          stderr=subprocess.PIPE, env={**__import__("os").environ, "COLUMNS": "160"}, timeout=120)
    import os

    os.close(child)
    shown = b""
    while True:
        try:
            chunk = os.read(parent, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    text = shown.decode(errors="replace")
    assert done.returncode == 0 and "conflicts, soonest first" in text and " NM" in text and " ft" in text
    piped = subprocess.run([sys.executable, "-m", "deconflict.cli", "detect", str(sample)], capture_output=True,
                           text=True, timeout=120)
    assert piped.stdout.replace('"', "").startswith("a,b,party_a,party_b,t_in")  # CSV, as before


def test_one_aircraft_json_shows_its_alerts_unconfirmed_with_time_to_loss_and_distance(tmp_path, capsys):
    """A single aircraft.json never showed an alert (the steady filter needs two pictures), and the
    alert table had no time to loss nor distance."""
    import json

    document = {"now": 1_700_000_000.0, "aircraft": [
        {"hex": "aaa001", "flight": "ONE", "alt_baro": 30000, "gs": 450, "track": 90, "baro_rate": 0,
         "lat": 50.0, "lon": 10.0, "seen_pos": 0.0},
        {"hex": "bbb002", "flight": "TWO", "alt_baro": 30000, "gs": 450, "track": 270, "baro_rate": 0,
         "lat": 50.0, "lon": 10.25, "seen_pos": 0.0}]}
    path = tmp_path / "aircraft.json"
    path.write_text(json.dumps(document))
    code, stdout, _ = run(["station", "--replay", str(path), "--format", "json"], capsys)
    assert code == 0
    row = next(line for line in stdout.splitlines() if "aaa001 / bbb002" in line)
    assert "(unconfirmed)" in row and " s" in row and " NM" in row and " ft" in row


def test_a_readsb_trace_is_read_as_a_trace(tmp_path, capsys):
    """A readsb trace JSON was read as AVR and ended 'exit 0, no tracks'."""
    import json

    trace = {"icao": "3c6444", "timestamp": 1_700_000_000.0, "trace": [
        [float(k), 50.0, 10.0 + 0.01 * k, 35000, 450.0, 90.0, 0, 0, {"flight": "DLH1  "} if k == 0 else None]
        for k in range(30)] + [[31.0, "north"]]}
    path = tmp_path / "trace_full_3c6444.json"
    path.write_text(json.dumps(trace))
    code, stdout, _ = run(["station", "--replay", str(path)], capsys)
    assert code == 0 and "3c6444" in stdout and "DLH1" in stdout and "unreadable trace row: 1" in stdout


def test_a_surface_aircraft_without_receiver_says_why_it_has_no_position():
    """Surface positions printed 'nan' without --receiver, and nothing said why."""
    from rich.console import Console

    from deconflict.cli.station import _station_view
    from deconflict.io.station import Station

    station = Station()
    station.tracks.update("abc123", 1000.0, {"onground": True, "callsign": "TAXI1"})
    console = Console(record=True, width=160)
    console.print(_station_view(station, station.picture(1000.0), "test"))
    text = console.export_text()
    assert "nan" not in text and "give --receiver LAT,LON" in text


def test_a_file_that_is_no_database_is_one_line(tmp_path, capsys):
    junk = tmp_path / "junk.db"
    junk.write_text("this is not a database")
    code, _, err = run(["admin", "list", "--db", str(junk)], capsys)
    assert code == 2 and "file is not a database" in err and "Traceback" not in err

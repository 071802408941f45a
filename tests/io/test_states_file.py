import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from deconflict import detect, read_states
from deconflict.io.states_file import StatesFileError, read_states_checked, write_conflicts

HEADER = "time,icao24,lat,lon,velocity,heading,vertrate,callsign,onground,baroaltitude,geoaltitude,party\n"
GOOD = [
    "100,aaaaaa,50.0,5.0,200,90,0,AAA1,False,9000,9100,blue\n",
    "100,bbbbbb,50.0,5.2,200,270,0,BBB2,False,9000,9100,red\n",
    "100,cccccc,51.0,5.0,200,90,0,,False,,9100,\n",  # geo altitude only
]


def write(tmp_path: Path, lines, name="states.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(lines))
    return path


def test_reads_opensky_csv(tmp_path):
    states = read_states(write(tmp_path, GOOD))
    assert len(states) == 3
    assert states.altitude.tolist() == [9000.0, 9000.0, 9100.0]  # baro first, geo as fallback
    assert states.party.tolist() == ["blue", "red", ""]
    assert detect(states).pairs() == {("aaaaaa", "bbbbbb")}


@pytest.mark.parametrize("line, reason", [
    ("100,dddddd,95.0,5.0,200,90,0,,False,9000,,\n", "lat outside [-90, 90]"),
    ("100,dddddd,50.0,5.0,-3,90,0,,False,9000,,\n", "velocity outside [0, 1500]"),
    ("100,dddddd,50.0,5.0,2000,90,0,,False,9000,,\n", "velocity outside [0, 1500]"),
    ("100,dddddd,50.0,,200,90,0,,False,9000,,\n", "lon missing"),
    ("100,dddddd,50.0,5.0,200,90,0,,False,,,\n", "no baroaltitude or geoaltitude"),
    (",dddddd,50.0,5.0,200,90,0,,False,9000,,\n", "time missing"),
    ("100,,50.0,5.0,200,90,0,,False,9000,,\n", "icao24 is empty"),
    ("100,dddddd,50.0,5.0,200,400,0,,False,9000,,\n", "heading outside [0, 360]"),
    ("100,dddddd,north,5.0,200,90,0,,False,9000,,\n", "lat is not a number"),
    ("100,dddddd,50.0,5.0,200,90,0,,maybe,9000,,\n", "onground is not true/false"),
])
def test_bad_rows_are_reported_with_line_and_reason_and_skipped(tmp_path, line, reason):
    path = write(tmp_path, GOOD[:2] + [line] + GOOD[2:])
    states, rejected = read_states_checked(path)
    assert len(states) == 3 and rejected.count == 1
    assert rejected.examples == [("line 4", reason)]
    assert "1 bad row skipped (line 4: " + reason in rejected.summary(path)
    # the valid rows give the same result as without the bad one
    assert detect(states).pairs() == detect(read_states(write(tmp_path, GOOD, "clean.csv"))).pairs()


def test_on_ground_rows_may_lack_kinematics(tmp_path):
    states, rejected = read_states_checked(write(tmp_path, GOOD + ["100,eeeeee,50.0,5.0,,,,,True,,,\n"]))
    assert rejected.count == 0 and len(states) == 4 and len(states.snapshot()) == 3


def test_many_bad_rows_summary_shows_the_first_few(tmp_path):
    bad = [f"100,x{k},95,5,200,90,0,,False,9000,,\n" for k in range(20)]
    states, rejected = read_states_checked(write(tmp_path, GOOD + bad))
    assert rejected.count == 20 and len(rejected.examples) == 5 and rejected.examples[0][0] == "line 5"
    assert rejected.summary("f.csv").endswith(", ...)")


def test_read_states_warns_about_skipped_rows(tmp_path):
    with pytest.warns(UserWarning, match="1 bad row skipped"):
        read_states(write(tmp_path, GOOD + ["100,x,95,5,200,90,0,,False,9000,,\n"]))


def test_missing_required_column_is_one_clear_error(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("time,icao24,lat,lon,velocity,vertrate,baroaltitude\n1,a,50,5,200,0,9000\n")
    with pytest.raises(StatesFileError, match=r"s\.csv: missing required column heading"):
        read_states(path)


def test_no_altitude_column(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("time,icao24,lat,lon,velocity,heading,vertrate\n1,a,50,5,200,0,0\n")
    with pytest.raises(StatesFileError, match="no altitude column"):
        read_states(path)


@pytest.mark.parametrize("name, content, message", [
    ("missing.csv", None, "no such file"),
    ("states.txt", "x", "unknown file type"),
    ("broken.parquet", "not parquet at all", "cannot read"),
    ("broken.csv.gz", "not gzip", "cannot read"),
])
def test_unreadable_files(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(StatesFileError, match=message) as error:
        read_states(path)
    assert "\n" not in str(error.value)


def test_gzip_and_parquet_give_the_same_states(tmp_path):
    csv_path = write(tmp_path, GOOD)
    gz_path = tmp_path / "states.csv.gz"
    gz_path.write_bytes(gzip.compress(csv_path.read_bytes()))
    table = pacsv.read_csv(csv_path)
    pq.write_table(table, tmp_path / "states.parquet")
    reference = read_states(csv_path)
    for other in (read_states(gz_path), read_states(tmp_path / "states.parquet")):
        np.testing.assert_array_equal(other.lat, reference.lat)
        np.testing.assert_array_equal(other.altitude, reference.altitude)
        assert other.icao24.tolist() == reference.icao24.tolist()


def test_parquet_bad_rows_are_located_by_row(tmp_path):
    table = pa.table({"time": [1.0, 1.0], "icao24": ["a", "b"], "lat": [50.0, 99.0], "lon": [5.0, 5.0],
                      "velocity": [1.0, 1.0], "heading": [0.0, 0.0], "vertrate": [0.0, 0.0],
                      "baroaltitude": [1000.0, 1000.0], "onground": [False, False]})
    pq.write_table(table, tmp_path / "s.parquet")
    states, rejected = read_states_checked(tmp_path / "s.parquet")
    assert len(states) == 1 and rejected.examples == [("row 2", "lat outside [-90, 90]")]


@pytest.mark.parametrize("name", ["out.csv", "out.csv.gz", "out.parquet"])
def test_conflict_table_round_trip(tmp_path, name):
    conflicts = detect(read_states(write(tmp_path, GOOD)))
    write_conflicts(conflicts, tmp_path / name)
    if name.endswith(".parquet"):
        table = pq.read_table(tmp_path / name)
    else:
        table = pacsv.read_csv(tmp_path / name)
    assert table.column_names == ["a", "b", "party_a", "party_b", "t_in", "t_out", "t_cpa", "d_cpa", "dz_cpa"]
    assert table.column("a").to_pylist() == ["aaaaaa"] and table.column("t_in")[0].as_py() == conflicts.t_in[0]


def test_ascii_ids_read_straight_from_arrow_buffers():
    import pyarrow as pa

    from deconflict.io.states_file import _ascii_text

    mixed = pa.chunked_array([pa.array(["abc", "", "x1234567"]), pa.array(["zz"])])
    assert _ascii_text(mixed).tolist() == ["abc", "", "x1234567", "zz"]
    assert _ascii_text(pa.chunked_array([pa.array(["abc", "def"]).slice(1)])).tolist() == ["def"]
    assert _ascii_text(pa.chunked_array([pa.array(["été"])])) is None  # not ASCII: the general path
    assert _ascii_text(pa.chunked_array([pa.array(["a", None])])) is None


def test_values_in_another_unit_are_warned_about_and_iso_times_read(tmp_path):
    """Milliseconds for seconds and knots for m/s were read silently; ISO 8601 times (as the API takes)
    were rows rejected as 'time is not a number'."""
    import pandas as pd

    from deconflict.io.states_file import read_states_checked

    rows = pd.DataFrame({"time": 1_700_000_000.0 + np.arange(20.0), "icao24": [f"a{k}" for k in range(20)],
                         "lat": 50.0, "lon": 10.0, "velocity": 230.0, "heading": 90.0, "vertrate": 0.0,
                         "baroaltitude": 10_000.0})
    bad_units = rows.assign(time=rows.time * 1000.0, velocity=rows.velocity / 0.514444, baroaltitude=rows.baroaltitude / 0.3048)
    bad_units.to_csv(tmp_path / "units.csv", index=False)
    _, report = read_states_checked(tmp_path / "units.csv")
    assert report.suspicions == ["time looks like UNIX milliseconds (expected seconds)",
                                 "velocity looks like knots or km/h (expected m/s)",
                                 "baroaltitude looks like feet (expected metres)"]
    _, clean = read_states_checked(_write(tmp_path / "clean.csv", rows))
    assert clean.suspicions == []
    iso = rows.assign(time=pd.to_datetime(rows.time, unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    states, report = read_states_checked(_write(tmp_path / "iso.csv", iso))
    assert report.count == 0 and states.time.tolist() == rows.time.tolist()


def _write(path, frame):
    frame.to_csv(path, index=False)
    return path


def test_dataframes_of_every_schema_and_file_column_names():
    """Converting a `traffic` table or an OpenSky history took a hand-written 20-line conversion."""
    import pandas as pd

    import deconflict
    from deconflict import States

    traffic = pd.DataFrame({"timestamp": pd.to_datetime([1_700_000_000, 1_700_000_001], unit="s", utc=True),
                            "icao24": ["abc123"] * 2, "latitude": [50.0, 50.01], "longitude": [10.0, 10.0],
                            "groundspeed": [400.0, 400.0], "track": [0.0, 0.0], "vertical_rate": [1000.0, None],
                            "altitude": [30000.0, 30025.0], "callsign": ["DLH1"] * 2})
    states, rejected = deconflict.from_pandas(traffic)
    assert rejected.count == 0 and states.time.tolist() == [1_700_000_000.0, 1_700_000_001.0]
    assert states.velocity[0] == pytest.approx(400 * 1852 / 3600) and states.altitude[0] == pytest.approx(9144.0)
    assert states.vertrate.tolist() == pytest.approx([1000 * 0.3048 / 60] * 2)  # the missing one filled
    opensky = states.to_pandas().rename(columns={"altitude": "baroaltitude"})
    again, _ = deconflict.from_pandas(opensky)
    assert again.lat.tolist() == states.lat.tolist()
    columns = {k: opensky[k].to_numpy() for k in ("icao24", "time", "lat", "lon", "velocity", "heading", "vertrate",
                                                   "baroaltitude")}
    assert States.from_arrays(**columns).altitude.tolist() == states.altitude.tolist()

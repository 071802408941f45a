"""Archive scans: episodes timed by hand, identical with any windows and workers, the real AF 787 formation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyproj import Geod

from deconflict.core.episodes import loss_episodes
from deconflict.core.units import FOOT, KNOT, NAUTICAL_MILE
from deconflict.io.archive import ScanSettings, scan_archive, windows_of
from deconflict.io.states_file import read_states
from tests.io.recordings import sample

GEOD = Geod(ellps="WGS84")
T0 = 1_700_000_000.0


def crossing_archive(path, report=4.0, duration=1200.0):
    """Two aircraft crossing at right angles, meeting at 50N 10E at T0 + 600 s, 250 kt, 500 ft apart;
    a third far away. Reports every ``report`` s."""
    speed = 250 * KNOT
    times = np.arange(0.0, duration, report)
    rows = []
    for icao, track, alt, party in (("aaaaaa", 90.0, 9000.0, "blue"), ("bbbbbb", 0.0, 9000.0 + 500 * FOOT, "orange")):
        start_lon, start_lat, toward = GEOD.fwd(10.0, 50.0, track + 180.0, speed * 600.0)  # toward the meeting point
        lon, lat, back = GEOD.fwd(np.full(times.size, start_lon), np.full(times.size, start_lat),
                                  np.full(times.size, toward), speed * times)
        rows.append(pd.DataFrame({"time": T0 + times, "icao24": icao, "lat": lat, "lon": lon, "velocity": speed,
                                  "heading": (np.asarray(back) + 180.0) % 360.0, "vertrate": 0.0,
                                  "baroaltitude": alt, "party": party}))
    rows.append(pd.DataFrame({"time": T0 + times, "icao24": "cccccc", "lat": 40.0, "lon": 0.0, "velocity": 0.0,
                              "heading": 0.0, "vertrate": 0.0, "baroaltitude": 9000.0, "party": ""}))
    table = pd.concat(rows).sort_values("time")
    table.to_parquet(path)
    return path


def test_crossing_episode_timed_by_hand(tmp_path):
    path = crossing_archive(tmp_path / "a.parquet")
    episodes, report = scan_archive([path], ScanSettings(step=5.0), scheduler="none")
    (row,) = episodes.to_pandas().to_dict("records")
    # closing at 250 sqrt(2) kt, inside 5 NM for 5 / (250 sqrt(2)) h either side of the meeting
    half = 5 * NAUTICAL_MILE / (250 * KNOT * np.sqrt(2))
    assert (row["a"], row["b"], row["party_a"], row["party_b"]) == ("aaaaaa", "bbbbbb", "blue", "orange")
    assert row["start"] == pytest.approx(T0 + 600 - half, abs=1.0)
    assert row["end"] == pytest.approx(T0 + 600 + half, abs=1.0)
    assert row["min_distance"] < 100.0 and row["min_vertical"] == pytest.approx(500 * FOOT, abs=1.0)
    assert row["lat"] == pytest.approx(50.0, abs=0.01) and row["lon"] == pytest.approx(10.0, abs=0.01)
    assert report.rows == 900 and report.files == 1


def test_windows_and_workers_do_not_change_the_result(tmp_path):
    path = crossing_archive(tmp_path / "a.parquet", report=3.0)
    reference = scan_archive([path], ScanSettings(window=3600.0), scheduler="none")[0].to_pandas()
    for window in (60.0, 300.0, 617.0):
        result = scan_archive([path], ScanSettings(window=window), scheduler="none")[0].to_pandas()
        pd.testing.assert_frame_equal(result, reference)
    for workers in (1, 2):
        result = scan_archive([path], ScanSettings(window=300.0), scheduler="local", workers=workers)[0].to_pandas()
        pd.testing.assert_frame_equal(result, reference)


def test_window_edges_cover_the_range():
    settings = ScanSettings(step=5.0, window=100.0)
    windows = windows_of(T0 + 3.0, T0 + 1000.0, settings)
    assert windows[0][0] == T0 + 3.0 and windows[-1][1] >= T0 + 1000.0
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:]))


def test_missing_and_corrupt_files_are_reported_and_the_rest_scanned(tmp_path):
    good = crossing_archive(tmp_path / "good.parquet")
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 not really")
    bad_rows = tmp_path / "rows.csv"
    bad_rows.write_text("time,icao24,lat,lon,velocity,heading,vertrate,baroaltitude\n"
                        f"{T0},dddddd,95,0,100,0,0,9000\n{T0},eeeeee,0,0,100,0,0,9000\n")
    episodes, report = scan_archive([good, corrupt, tmp_path / "missing.csv", bad_rows], ScanSettings(), scheduler="none")
    assert len(episodes) == 1
    assert [name for name, _ in report.failed] == [str(corrupt), str(tmp_path / "missing.csv")]
    assert report.rejected == {"lat outside [-90, 90]": 1}


def test_time_range(tmp_path):
    path = crossing_archive(tmp_path / "a.parquet")
    assert len(scan_archive([path], ScanSettings(end=T0 + 300.0), scheduler="none")[0]) == 0
    assert len(scan_archive([path], ScanSettings(start=T0 + 590.0, end=T0 + 610.0), scheduler="none")[0]) == 1


def test_air_france_787_and_its_camera_aircraft(tmp_path):
    """The recorded formation flight of 2017-12-01 over the south of France shows its real episodes."""
    df = pd.read_json(sample("featured/dreamliner_airfrance.json.gz"))
    archive = pd.DataFrame({"time": (df.timestamp - pd.Timestamp("1970-01-01")).dt.total_seconds(),
                            "icao24": df.icao24, "lat": df.latitude, "lon": df.longitude,
                            "velocity": df.groundspeed * KNOT, "heading": df.track,
                            "vertrate": df.vertical_rate * FOOT / 60, "baroaltitude": df.altitude * FOOT,
                            "callsign": df.callsign})
    path = tmp_path / "af787.parquet"
    archive.to_parquet(path)
    episodes, report = scan_archive([path], ScanSettings(), scheduler="none")
    table = episodes.to_pandas()
    assert set(zip(table.a, table.b)) == {("3900fb", "39c424")}
    longest = table.loc[table.duration.idxmax()]
    # the formation: about 17 minutes from 15:02 UTC, the two aircraft within metres of each other
    assert 15 * 60 < longest.duration < 18 * 60
    assert longest.min_distance < 200.0 and longest.min_vertical < 100 * FOOT
    assert pd.Timestamp(longest.start, unit="s").strftime("%H:%M") == "15:02"
    # and no episode but between these two, all inside the minima at their closest
    assert (table.min_distance < 5 * NAUTICAL_MILE).all() and (table.min_vertical <= 1000 * FOOT + 1e-6).all()
    # the same with the in-memory function
    same = loss_episodes(read_states(path))
    pd.testing.assert_frame_equal(same.to_pandas(), table)


def test_parquet_archives_stream_by_row_group_and_count_each_row_once(tmp_path):
    """Windows read only their row groups; episodes, rows and bad rows equal a whole in-memory scan."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from deconflict.io.archive import survey
    from deconflict.io.states_file import read_states_checked

    whole = pd.read_parquet(crossing_archive(tmp_path / "whole.parquet", report=2.0))
    whole.loc[whole.index[::97], "lat"] = 95.0  # bad rows scattered through every row group
    halves = [whole.iloc[: len(whole) // 2], whole.iloc[len(whole) // 2:]]
    paths = []
    for k, half in enumerate(halves):
        path = tmp_path / f"part{k}.parquet"
        pq.write_table(pa.Table.from_pandas(half, preserve_index=False), path, row_group_size=100)
        paths.append(path)
    assert len(survey(str(paths[0])).groups) > 5
    episodes, report = scan_archive(paths, ScanSettings(window=120.0), scheduler="none")
    combined = tmp_path / "combined.parquet"
    whole.to_parquet(combined)
    states, rejected = read_states_checked(combined)
    assert report.rows == len(states) and report.rejected == rejected.reasons
    expected = loss_episodes(states, step=5.0, max_gap=60.0)
    pd.testing.assert_frame_equal(episodes.to_pandas(), expected.to_pandas())
    assert len(episodes) == 1


def test_csv_archives_are_read_whole_and_give_the_same_on_dask(tmp_path):
    parquet = crossing_archive(tmp_path / "a.parquet", report=3.0)
    csv = tmp_path / "a.csv"
    pd.read_parquet(parquet).to_csv(csv, index=False)
    reference = scan_archive([parquet], ScanSettings(window=300.0), scheduler="none")[0].to_pandas()
    for scheduler, workers in (("none", None), ("local", 2)):
        result = scan_archive([csv], ScanSettings(window=300.0), scheduler=scheduler, workers=workers)[0].to_pandas()
        pd.testing.assert_frame_equal(result, reference, check_exact=False, rtol=1e-9)

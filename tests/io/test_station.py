"""The station end to end: recordings and a live TCP feed to tracks, state vectors and steady alerts."""

from __future__ import annotations

import socket
import threading

import numpy as np
from pathlib import Path

from deconflict.io.station import Station, connect, guess_format, replay
from deconflict.io.states_file import read_states, write_states
from tests.io.recordings import sample


def sbs_line(icao, t, lat, lon, track, altitude=30000, speed=450):
    seconds = f"{t:06.3f}"
    return (f"MSG,3,1,1,{icao},1,2019/06/01,12:00:{seconds},2019/06/01,12:00:{seconds},{icao.upper()},"
            f"{altitude},{speed},{track},{lat:.5f},{lon:.5f},0,7000,0,0,0,0\n")


def head_on_feed() -> str:
    """Two aircraft 20 NM apart closing at 900 kt, reported every second for 20 s."""
    lines = []
    for t in range(20):
        d = t * 450 / 3600 / 60  # degrees of longitude flown at the equator
        lines.append(sbs_line("aaa001", t, 0.0, 0.0 + d, 90))
        lines.append(sbs_line("bbb002", t, 0.0, 20 / 60 - d, 270))
    return "".join(lines)


def test_sbs_recording_gives_a_steady_warning(tmp_path):
    path = tmp_path / "feed.sbs"
    path.write_text(head_on_feed())
    assert guess_format(path) == "sbs"
    station = Station(record=True)
    pictures = list(replay(station, path, "sbs", step=1.0))
    assert len(pictures[-1].states) == 2
    levels = [p.shown.get(("aaa001", "bbb002"), 0) for p in pictures]
    assert levels[-1] == 3  # warning: 20 NM at 900 kt, loss of 5 NM within a minute
    assert levels[0] == 0 and 0 in levels[:3]  # raised only after two of three updates agree
    out = tmp_path / "tracks.parquet"
    write_states(station.recorded(), out)
    assert set(read_states(out).icao24.tolist()) == {"aaa001", "bbb002"}


def test_real_capture_replayed(tmp_path):
    station = Station(receiver=(49.0, 2.55))
    path = sample("rs1090/full_flight_short.jsonl")
    pictures = list(replay(station, path, guess_format(path), step=60.0))
    counts = station.counts
    assert counts["used"] > 25000 and counts["used"] + counts["duplicate"] > 40000 and counts["skipped DF0"] > 10000
    airborne = [p for p in pictures if len(p.states)]
    assert len(airborne) > 40  # en route most of the flight
    assert station.tracks.tracks["393322"].callsign == "AFR34ZG"


def test_beast_sample_replayed():
    station = Station()
    list(replay(station, sample("dump1090/sample_dump1090.bin"), "beast", clock_origin=1.6e9))
    assert station.counts["used"] > 20 and len(station.tracks.tracks) >= 1


def serve_once(payload: bytes) -> tuple[int, threading.Thread]:
    """A loopback server that sends ``payload`` to each of two connections, then closes them."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def run():
        for _ in range(2):
            conn, _ = server.accept()
            with conn:
                conn.sendall(payload)
        server.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return port, thread


def test_tcp_feed_reconnects_after_a_drop():
    port, thread = serve_once(head_on_feed().encode())
    station = Station()
    pictures = list(connect(station, "127.0.0.1", port, "sbs", step=0.2, retry=0.1, attempts=2))
    thread.join(timeout=5)
    assert station.parser_counts["connections"] == 2 and station.parser_counts["disconnections"] == 2
    assert set(station.tracks.tracks) == {"aaa001", "bbb002"}
    assert pictures


def test_tcp_feed_counts_refused_connections():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    station = Station()
    list(connect(station, "127.0.0.1", port, "avr", step=0.1, retry=0.05, attempts=2))
    assert station.parser_counts["connection failures"] == 2


def test_state_vector_files_feed_the_station(tmp_path):
    from importlib import resources

    path = resources.files("deconflict") / "data" / "sample_states.csv"
    assert guess_format(Path(str(path))) == "states"
    station = Station()
    pictures = list(replay(station, Path(str(path)), "states", step=30.0))
    final = pictures[-1]
    assert len(final.states) >= 240  # the bundled snapshot's airborne aircraft
    assert final.shown  # its conflicts, raised once two pictures agree


def test_aircraft_json_polled_over_http():
    """Live aircraft.json polling over HTTP (how tar1090 reads a receiver) was missing."""
    import http.server
    import json
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        calls = 0

        def do_GET(self):  # noqa: N802 - the http.server API
            Handler.calls += 1
            if Handler.calls == 2:
                self.send_response(503)
                self.end_headers()
                return
            body = json.dumps({"now": 1000.0 + Handler.calls, "aircraft": [
                {"hex": "aaa001", "alt_baro": 30000, "gs": 450, "track": 90, "baro_rate": 0, "lat": 50.0,
                 "lon": 10.0 + 0.001 * Handler.calls, "seen_pos": 0.1}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        from deconflict.io.station import poll

        station = Station()
        pictures = list(poll(station, f"http://127.0.0.1:{server.server_address[1]}/data/aircraft.json", step=0.05,
                             attempts=3))
    finally:
        server.shutdown()
    assert len(pictures) == 3 and station.parser_counts["polls"] == 2 and station.parser_counts["failed polls"] == 1
    assert "aaa001" in station.tracks.tracks and len(pictures[-1].states) == 1


def test_a_station_keeps_no_history_unless_asked_and_a_picture_shows_its_own_time():
    """Every picture's state vectors were kept for --parquet even when no file was asked for: a live
    station's memory grew with every picture, for as long as it ran. And a picture read later (pictures
    of a quiet receiver are predicted only when read) shows the aircraft as they were at its time."""
    path = sample("rs1090/full_flight_short.jsonl")
    station = Station(receiver=(49.0, 2.55))
    pictures = list(replay(station, path, "avr", step=60.0))
    assert station.history == []
    recording = Station(receiver=(49.0, 2.55), record=True)
    recorded = list(replay(recording, path, "avr", step=60.0))
    assert len(recording.history) > 40
    for early, kept in zip(pictures[10:60:10], recorded[10:60:10]):  # read long after they were made
        assert list(early.states.icao24) == list(kept.states.icao24)
        assert np.allclose(early.states.lat, kept.states.lat) and np.allclose(early.states.altitude, kept.states.altitude)
        assert early.states.at == early.time

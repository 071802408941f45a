"""ASTERIX CAT021/CAT062 through libasterix: reports encoded by the library read back into state vectors
within the items' resolution, recordings read as state-vector files, the service's picture as CAT062,
and arbitrary bytes never crash the reader (fuzzed)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from deconflict.core.states import States
from deconflict.io.asterix import decode, encode_cat021, encode_cat062, read_asterix
from deconflict.io.states_file import StatesFileError, read_states

DAY = 1_800_000_000.0 - 1_800_000_000.0 % 86400.0


def _traffic(n: int = 40, seed: int = 1) -> States:
    rng = np.random.default_rng(seed)
    return States.from_arrays(icao24=[f"{k:06x}" for k in rng.choice(2**24, n, replace=False)],
                              callsign=[f"TST{k}" for k in range(n)], time=DAY + rng.uniform(0, 86000, n),
                              lat=rng.uniform(-89, 89, n), lon=rng.uniform(-180, 180, n), velocity=rng.uniform(0, 300, n),
                              heading=rng.uniform(0, 360, n), vertrate=rng.uniform(-30, 30, n),
                              altitude=rng.uniform(0, 13000, n))


@pytest.mark.parametrize("encode, tolerance", [(encode_cat021, {"lat": 2e-7, "velocity": 0.06, "heading": 0.006,
                                                               "vertrate": 0.04, "altitude": 7.7}),
                                               (encode_cat062, {"lat": 2e-6, "velocity": 0.2, "heading": 0.01,
                                                                "vertrate": 0.04, "altitude": 7.7})])
def test_reports_encoded_by_the_library_read_back_within_the_resolution(encode, tolerance):
    s = _traffic()
    found = decode(encode(s), DAY)
    assert found.bad_records == 0 and len(found.states) == len(s)
    t = found.states
    assert t.icao24.tolist() == s.icao24.tolist() and t.callsign.tolist() == s.callsign.tolist()
    np.testing.assert_allclose(t.time, s.time, atol=1 / 128)
    np.testing.assert_allclose(t.lat, s.lat, atol=tolerance["lat"])
    np.testing.assert_allclose(t.lon, s.lon, atol=tolerance["lat"] * 2)
    np.testing.assert_allclose(t.velocity, s.velocity, atol=tolerance["velocity"])
    moving = s.velocity > 5.0
    turn = (t.heading - s.heading + 180.0) % 360.0 - 180.0
    # CAT021 sends the track angle (1/182 deg); CAT062 sends east and north at 0.25 m/s, whose
    # direction is that good only in proportion to the speed
    bound = tolerance["heading"] + (np.degrees(0.2 / s.velocity) if encode is encode_cat062 else 0.0)
    assert np.all(np.abs(turn[moving]) < bound[moving] if np.ndim(bound) else np.abs(turn[moving]) < bound)
    np.testing.assert_allclose(t.vertrate, s.vertrate, atol=tolerance["vertrate"])
    np.testing.assert_allclose(t.altitude, s.altitude, atol=tolerance["altitude"])  # 1/4 FL resolution


def test_a_recording_is_a_state_vector_file_for_every_command(tmp_path):
    s = _traffic(10)
    path = tmp_path / "feed.ast"
    path.write_bytes(encode_cat021(s) + encode_cat062(s.take(np.arange(3))))
    os.utime(path, (DAY + 3600, DAY + 3600))  # the file's day dates the times of day
    read = read_states(path)
    assert len(read) == 13 and set(read.icao24.tolist()) == set(s.icao24.tolist())
    empty = tmp_path / "empty.ast"
    empty.write_bytes(b"\x30\x00\x03")  # one empty CAT048 datablock: nothing usable
    with pytest.raises(StatesFileError, match="no usable CAT021 or CAT062 report in 1 datablocks"):
        read_asterix(empty)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash_the_reader(data):
    found = decode(data, DAY)  # counted and skipped, never an exception
    assert found.bad_datablocks >= 0 and len(found.states) >= 0


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10**6), st.binary(min_size=1, max_size=8))
def test_a_damaged_recording_keeps_what_came_before_the_damage(offset, garbage):
    good = encode_cat021(_traffic(5))
    position = offset % (len(good) + 1)
    found = decode(good + garbage, DAY)
    assert len(found.states) == 5  # the datablock before the garbage is read whole
    damaged = decode(good[:position] + garbage + good[position:], DAY)
    assert len(damaged.states) <= 5 + 5


def test_the_station_replays_a_recording_and_listens_to_udp_datagrams(tmp_path):
    import socket
    import threading
    import time

    from deconflict.io.station import Station, guess_format, listen_asterix, replay

    now = time.time()
    s = States.from_arrays(icao24=["4ca123", "3c6444"], callsign=["RYR1", "DLH2"], time=[now, now], lat=[45.0, 45.0],
                           lon=[5.0, 5.2], velocity=[230.0, 230.0], heading=[90.0, 270.0], vertrate=[0.0, 0.0],
                           altitude=[10000.0, 10000.0])
    recording = tmp_path / "feed.ast"
    recording.write_bytes(encode_cat021(s))
    assert guess_format(recording) == "asterix"
    pictures = list(replay(Station(), recording, "asterix"))
    assert len(pictures[-1].states) == 2 and len(pictures[-1].alerts) == 1  # head-on: a conflict

    station, bound = Station(), threading.Event()
    port = []
    listener = listen_asterix(station, "127.0.0.1", 0, step=0.2, pictures=10,
                              ready=lambda p: (port.append(p), bound.set()))
    seen = []
    reader = threading.Thread(target=lambda: seen.extend(listener), daemon=True)
    reader.start()
    assert bound.wait(10)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for k in range(3):
        sender.sendto(encode_cat062(s), ("127.0.0.1", port[0]))
        sender.sendto(b"\x15\x00\x05\xff\xff", ("127.0.0.1", port[0]))  # a damaged datablock: counted
        time.sleep(0.1)
    reader.join(10)
    assert station.parser_counts["asterix datagrams"] == 6 and station.parser_counts["asterix datablocks not parsed"] >= 1
    assert max(len(p.states) for p in seen) == 2


def test_the_station_reads_an_asterix_tcp_stream_cut_anywhere_and_reconnects_when_framing_is_lost():
    """Datablocks arrive split across reads (one byte at a time here) and several per read; a length
    field below 3 drops the connection (what came before it is kept) and the station connects again."""
    import socket
    import threading
    import time

    from deconflict.io.station import Station, connect

    now = time.time()
    s = States.from_arrays(icao24=["4ca123", "3c6444"], callsign=["RYR1", "DLH2"], time=[now, now], lat=[45.0, 45.0],
                           lon=[5.0, 5.2], velocity=[230.0, 230.0], heading=[90.0, 270.0], vertrate=[0.0, 0.0],
                           altitude=[10000.0, 10000.0])
    block = encode_cat062(s)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        first, _ = server.accept()
        with first:
            for byte in block:  # one datablock, one byte per send
                first.sendall(bytes([byte]))
                time.sleep(0.001)
            first.sendall(block + block[:5])  # a whole one and the start of the next
            time.sleep(0.05)
            first.sendall(block[5:] + b"\x3e\x00\x01" + block)  # its end, then a broken header
            time.sleep(0.2)
        second, _ = server.accept()
        with second:
            second.sendall(encode_cat021(s))
            time.sleep(0.2)

    sender = threading.Thread(target=serve, daemon=True)
    sender.start()
    station = Station()
    pictures = list(connect(station, "127.0.0.1", port, "asterix", step=0.1, retry=0.05, attempts=2))
    sender.join(5)
    server.close()
    counts = station.parser_counts
    assert counts["connections"] == 2 and counts["connection failures"] == 1
    assert counts["asterix stream lost its framing"] == 1
    assert counts["asterix datablocks"] == 4  # three CAT062 before the break, one CAT021 after
    assert station.update_counts["decoded updates"] == 8
    assert max(len(p.states) for p in pictures) == 2 and any(len(p.alerts) for p in pictures)


@pytest.mark.parametrize("encode", [encode_cat021, encode_cat062])
def test_a_large_picture_is_written_as_datablocks_that_each_fit_their_length_field(encode):
    """A datablock's length is 16 bits: 5,000 aircraft in one datablock overflowed it, and the
    written picture (e.g. GET /v1/tracks?format=asterix) could not be read back at all."""
    n = 5000
    rng = np.random.default_rng(3)
    s = States.from_arrays(icao24=[f"{k + 1:06x}" for k in range(n)], callsign=[f"T{k}" for k in range(n)],
                           time=np.full(n, DAY + 3600.0), lat=rng.uniform(40, 50, n), lon=rng.uniform(0, 10, n),
                           velocity=rng.uniform(100, 250, n), heading=rng.uniform(0, 360, n), vertrate=np.zeros(n),
                           altitude=rng.uniform(1000, 12000, n))
    data = encode(s)
    offset, blocks = 0, 0
    while offset < len(data):
        length = int.from_bytes(data[offset + 1:offset + 3], "big")
        assert 3 <= length <= 0xFFFF and data[offset] in (21, 62)
        offset, blocks = offset + length, blocks + 1
    assert offset == len(data) and blocks == 5
    found = decode(data, DAY)
    assert len(found.states) == n and found.bad_datablocks == 0
    assert sorted(found.states.icao24) == sorted(s.icao24)


def test_relay_sends_the_members_picture_as_cat062_datagrams(tmp_path, capsys):
    """`deconflict relay` fetches what the member may see and sends it to a display's UDP address:
    alpha's relay carries alpha's aircraft and the intruder in conflict with it, nothing else."""
    import socket

    from deconflict.cli import main
    from deconflict.service.app import create_app
    from deconflict.service.background import BackgroundServer
    from tests.servers import free_port
    from tests.service.builders import head_on, tracks
    from tests.service.conftest import make_world

    world = make_world(str(tmp_path / "relay.db"), tmp_path)
    mine, theirs = head_on(world.clock.now(), a="aaa001", b="bbb001")
    far = {**theirs, "icao24": "bbb009", "lat": 40.0}  # bravo's, far away: alpha must not see it
    world["alpha_op"].post("/v1/tracks", json=tracks(mine))
    world["bravo_op"].post("/v1/tracks", json=tracks(theirs, far))
    world.service.detect_now()
    display = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    display.bind(("127.0.0.1", 0))
    display.settimeout(10)
    try:
        with BackgroundServer(create_app(world.service, run_detection=False), port=free_port()) as url:
            with pytest.raises(SystemExit) as done:
                main(["relay", "--from", url, "--token", world.tokens["alpha_op"], "--every", "0.1s", "--count", "2",
                      "--to", f"udp://127.0.0.1:{display.getsockname()[1]}"])
        assert done.value.code in (0, None)
        datagrams = [display.recv(65535) for _ in range(2)]
    finally:
        display.close()
        world.service.close()
    assert "relayed 2 pictures as 2 CAT062 datagrams" in capsys.readouterr().out
    for datagram in datagrams:
        found = decode(datagram, DAY)
        assert found.bad_datablocks == 0 and sorted(found.states.icao24) == ["aaa001", "bbb001"]

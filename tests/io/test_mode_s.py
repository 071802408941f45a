"""Mode-S decoding against the reference decodes of a real capture (a full flight, CDG to Toulouse)."""

from __future__ import annotations

import json

import pytest

from deconflict.core.units import FOOT, KNOT
from deconflict.io.mode_s import ModeSDecoder
from deconflict.io.tracks import TrackTable
from tests.io.recordings import sample

CDG = (49.0, 2.55)


@pytest.fixture(scope="module")
def capture():
    path = sample("rs1090/full_flight_short.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_positions_match_the_reference_decodes(capture):
    decoder = ModeSDecoder(receiver=CDG, duplicate_window=0.0)  # every copy, as the reference has them
    airborne = surface = 0
    for row in capture:
        out = decoder.decode(row["frame"], row["timestamp"])
        fields = out[1] if out else {}
        if "latitude" not in row or "lat" not in fields:
            continue
        near_cdg = abs(row["latitude"] - CDG[0]) < 0.5
        if row.get("bds") == "05":
            airborne += 1
            assert fields["lat"] == pytest.approx(row["latitude"], abs=1e-6)
            assert fields["lon"] == pytest.approx(row["longitude"], abs=1e-6)
            assert not fields["onground"]
        elif near_cdg:  # surface positions need a reference within 45 NM: the receiver's
            surface += 1
            assert fields["lat"] == pytest.approx(row["latitude"], abs=1e-5) and fields["onground"]
    assert airborne > 6000 and surface > 1000
    reference_airborne = sum(1 for r in capture if r.get("bds") == "05" and "latitude" in r)
    assert airborne >= reference_airborne - 10  # the first few wait for an even/odd pair


def test_velocity_identity_and_altitude_in_si(capture):
    decoder = ModeSDecoder(receiver=CDG, duplicate_window=0.0)
    checked = set()
    altitudes = disagree = 0
    for row in capture:
        out = decoder.decode(row["frame"], row["timestamp"])
        if out is None:
            continue
        icao, fields = out
        assert icao == "393322"
        if row.get("bds") == "09" and "velocity" in fields:
            # pyModeS truncates ground speed to whole knots and rounds track to 0.1 deg
            assert fields["velocity"] == pytest.approx(row["groundspeed"] * KNOT, abs=1.0 * KNOT)
            assert fields["heading"] == pytest.approx(row["track"], abs=0.1)
            assert fields["vertrate"] == pytest.approx(row["vertical_rate"] * FOOT / 60, abs=1e-6)
            checked.add("velocity")
        if row.get("bds") == "08":
            assert fields["callsign"] == row["callsign"].strip("_ ")
            checked.add("callsign")
        if row["df"] in ("4", "20") and "altitude" in row and "altitude" in fields:
            altitudes += 1
            disagree += fields["altitude"] != pytest.approx(row["altitude"] * FOOT)
            checked.add("altitude")
        if row["df"] == "5" and "squawk" in fields:
            assert fields["squawk"] == row["squawk"]
            checked.add("squawk")
    assert checked == {"velocity", "callsign", "altitude", "squawk"}
    # 2 of 12,064 altitude replies decode differently in pyModeS and in rs1090 (the reference): Gillham
    # codes of damaged frames; track assembly rejects the impossible one (see test_tracks)
    assert altitudes > 12000 and disagree <= 2


def test_short_frames_padded_to_long_length_are_trimmed():
    decoder = ModeSDecoder()
    decoder.decode("8f393322384a02aea63afc43dcba", 0.0)  # confirms 393322 by a valid ADS-B CRC
    # a DF4 altitude reply padded with junk to 28 characters by the receiver
    icao, fields = decoder.decode("212800bf40f1ef7e5817e9cc428d", 1.0)
    assert icao == "393322" and fields["altitude"] == pytest.approx(575 * FOOT)


@pytest.mark.parametrize("frame, reason", [
    ("8f39332238fa02aea63afc43dcba", "CRC failed"),
    ("zz", "not hexadecimal"),
    ("8f3933", "wrong length"),
    ("212800bf40f1ef", "address not confirmed"),
    ("02e19cb02512c3", "skipped DF0"),
])
def test_every_unused_frame_is_counted_by_reason(frame, reason):
    decoder = ModeSDecoder()
    assert decoder.decode(frame, 0.0) is None
    assert decoder.counts[reason] == 1


def test_surface_positions_decoded_against_a_far_receiver_are_rejected_as_jumps(capture):
    decoder, tracks = ModeSDecoder(receiver=CDG), TrackTable()
    for row in capture:
        out = decoder.decode(row["frame"], row["timestamp"])
        if out:
            tracks.update(*out[:1], row["timestamp"], out[1])
    track = tracks.tracks["393322"]
    assert track.lat == pytest.approx(43.63, abs=0.01) and track.onground  # landed in Toulouse
    assert tracks.counts["impossible jump"] > 100  # Toulouse surface frames placed 6 degrees off by CDG


def test_duplicates_are_dropped_only_when_identical_and_recent(capture):
    decoder = ModeSDecoder(receiver=CDG)
    for row in capture:
        decoder.decode(row["frame"], row["timestamp"])
    last, expected = {}, 0
    for row in capture:
        frame = row["frame"]
        df = int(frame[:2], 16) >> 3
        key = frame[:14] if df in (0, 4, 5, 11) else frame
        if df in (4, 5, 17, 18, 20, 21) and key in last and 0 <= row["timestamp"] - last[key] < 1.0:
            expected += 1
        if df in (4, 5, 17, 18, 20, 21) and not (key in last and 0 <= row["timestamp"] - last[key] < 1.0):
            last[key] = row["timestamp"]
    assert decoder.counts["duplicate"] == expected > 1000

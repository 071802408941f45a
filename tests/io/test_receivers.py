"""Receiver feed parsers: every format, any split of the stream, and fuzzed garbage that never crashes."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st

from deconflict.core.units import FOOT, KNOT
from deconflict.io.receivers import AvrParser, BeastParser, Frame, SbsParser, aircraft_json, parse_timezone
from tests.io.recordings import sample

LONG = "8d4840d6202cc371c32ce0576098"
SHORT = "5d4840d6c2ae5a"


def beast(kind: int, ticks: int, frame: str) -> bytes:
    body = ticks.to_bytes(6, "big") + bytes([0x80]) + bytes.fromhex(frame)
    return bytes([0x1A, kind]) + body.replace(b"\x1a", b"\x1a\x1a")


def test_avr_lines_in_every_timing_style():
    parser = AvrParser(clock_origin=1000.0, now=lambda: 5.0)
    text = (f"*{LONG};\n@000000B71B00{SHORT};\n1720248189.5,{LONG}\n"
            f'{{"timestamp": 7.25, "frame": "{LONG}"}}\nnonsense\n*{LONG};')
    frames = list(parser.feed(text)) + list(parser.close())
    assert [f.time for f in frames] == [5.0, 1001.0, 1720248189.5, 7.25, 5.0]  # 12e6 ticks = 1 s
    assert frames[1].hex == SHORT and all(f.hex == LONG for f in frames[2:])
    assert parser.counts == {"unreadable AVR line": 1}


def test_beast_frames_with_escapes_and_any_split():
    ticks = 0x1A1A1A * 12  # clock bytes that need escaping
    stream = beast(0x33, ticks, LONG) + beast(0x32, ticks + 12_000_000, SHORT) + beast(0x31, 0, "1234")
    for cut in range(1, len(stream)):
        parser = BeastParser(clock_origin=100.0)
        frames = list(parser.feed(stream[:cut])) + list(parser.feed(stream[cut:]))
        assert [f.hex for f in frames] == [LONG, SHORT]
        assert frames[1].time - frames[0].time == pytest.approx(1.0)
        assert parser.counts["Mode A/C or status frame"] == 1


def test_beast_resynchronises_after_garbage_and_cut_frames():
    parser = BeastParser(clock_origin=0.0)
    cut = beast(0x33, 1, LONG)[:9]  # a frame cut short by the next one
    frames = list(parser.feed(b"\x00\x01junk" + cut + beast(0x33, 2, LONG) + b"\x1a\x39xx" + beast(0x32, 3, SHORT)))
    assert [f.hex for f in frames] == [LONG, SHORT]
    assert parser.counts["broken Beast frame"] == 1 and parser.counts["unknown Beast frame type"] == 1


def test_real_dump1090_beast_sample():
    parser = BeastParser(clock_origin=0.0)
    frames = list(parser.feed(sample("dump1090/sample_dump1090.bin").read_bytes()))
    assert len(frames) > 200 and all(len(f.hex) in (14, 28) for f in frames)
    assert sum(parser.counts.values()) < 0.05 * len(frames)
    assert all(b.time >= a.time for a, b in zip(frames, frames[1:]))


SBS = ("MSG,3,1,1,4CA2D6,1,2019/06/01,12:00:00.000,2019/06/01,12:00:00.000,RYR1,36000,420,180,51.5,-0.1,-640,7000,0,0,0,0\n"
       "MSG,4,1,1,4CA2D6,1,2019/06/01,12:00:01.500,2019/06/01,12:00:01.500,,,,,,,,,,,,-1\n"
       "MSG,3,1,1,XYZ,1,2019/06/01,12:00:02.000,,,,,,,,,,,,,,\nSTA,garbage\n")


def test_sbs_fields_and_time_zone():
    parser = SbsParser(timezone=parse_timezone("+02:00"))
    first, second = list(parser.feed(SBS))
    assert first.icao24 == "4ca2d6" and first.time == pytest.approx(1559390400.0 - 7200.0)  # 12:00 at +02:00 is 10:00 UTC
    assert first.fields["altitude"] == pytest.approx(36000 * FOOT) and first.fields["velocity"] == pytest.approx(420 * KNOT)
    assert first.fields["vertrate"] == pytest.approx(-640 * FOOT / 60) and first.fields["squawk"] == "7000"
    assert second.fields == {"onground": True} and second.time - first.time == pytest.approx(1.5)
    assert parser.counts == {"unreadable SBS field": 1, "not an SBS MSG line": 1}
    assert parse_timezone("UTC") is timezone.utc and parse_timezone("-0530").utcoffset(None) == -timedelta(hours=5, minutes=30)
    with pytest.raises(ValueError, match="not a time zone"):
        parse_timezone("CET")


def test_aircraft_json_document():
    document = json.dumps({"now": 1000.0, "aircraft": [
        {"hex": "4ca2d6", "flight": "RYR1  ", "alt_baro": 36000, "gs": 420, "track": 180, "baro_rate": -640,
         "lat": 51.5, "lon": -0.1, "seen_pos": 0.5, "squawk": "7000"},
        {"hex": "~abc123", "alt_baro": "ground"}, {"hex": "bad", "lat": "north"}]})
    counts = Counter()
    updates = aircraft_json(document, counts)
    # "~" marks an address that is not an ICAO one: kept, so it cannot clash with the aircraft abc123
    assert [u.icao24 for u in updates] == ["4ca2d6", "~abc123"]
    assert updates[0].time == 999.5 and updates[0].fields["callsign"] == "RYR1"
    assert updates[1].fields == {"onground": True}
    assert counts == {"unreadable aircraft entry": 1}
    assert aircraft_json("{not json", counts) == [] and counts["unreadable aircraft.json"] == 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(min_value=1, max_value=50))
def test_beast_parser_never_crashes(data, cut):
    parser = BeastParser(clock_origin=0.0)
    frames = list(parser.feed(data[:cut])) + list(parser.feed(data[cut:] + beast(0x33, 5, LONG)))
    assert all(isinstance(f, Frame) and len(f.hex) in (14, 28) for f in frames)
    assert frames and frames[-1].hex == LONG  # a valid frame after garbage is still read


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_text_parsers_never_crash(text):
    avr, sbs = AvrParser(now=lambda: 0.0), SbsParser()
    frames = list(avr.feed(text + f"\n*{LONG};\n"))
    assert frames[-1].hex == LONG
    list(sbs.feed(text + "\n"))
    aircraft_json(text)

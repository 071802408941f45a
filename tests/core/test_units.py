import pytest

from deconflict.core.units import UnitError, format_distance, format_duration, parse_distance, parse_duration, parse_speed


@pytest.mark.parametrize("text, metres", [("5nm", 9260.0), ("9.26km", 9260.0), ("9260m", 9260.0), ("1000ft", 304.8),
                                          ("1000 FT", 304.8), ("0.5NM", 926.0), ("1e3m", 1000.0)])
def test_distances(text, metres):
    assert parse_distance(text) == pytest.approx(metres)


@pytest.mark.parametrize("text, seconds", [("300s", 300.0), ("5min", 300.0), ("2h", 7200.0), ("1.5min", 90.0)])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


def test_speeds():
    assert parse_speed("450kt") == pytest.approx(231.5, rel=1e-3)
    assert parse_speed("230m/s") == 230.0


@pytest.mark.parametrize("text, message", [("5", "has no unit"), ("5 furlongs", "unknown unit"), ("abc", "not a distance"),
                                           ("", "not a distance")])
def test_errors_name_the_field_and_the_accepted_units(text, message):
    with pytest.raises(UnitError) as error:
        parse_distance(text, "--hsep")
    assert str(error.value).startswith("--hsep") and message in str(error.value) and "nm, km, m, ft" in str(error.value)


def test_a_distance_is_not_a_duration():
    with pytest.raises(UnitError, match="--lookahead: unknown unit 'nm'"):
        parse_duration("5nm", "--lookahead")


def test_formatting():
    assert format_distance(9260.0) == "5 NM"
    assert format_distance(304.8) == "1000 ft"
    assert format_duration(300.0) == "5 min"
    assert format_duration(45.0) == "45 s"

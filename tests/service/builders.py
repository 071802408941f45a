"""Plan documents and track batches for the service tests."""

from __future__ import annotations

from datetime import datetime, timezone

from tests.service.conftest import T0


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def plan(plan_id: str, lat: float = 45.0, lon: float = 5.0, radius: str = "5km", altitude=("FL100", "FL200"),
         start: float = 0.0, end: float = 3600.0, priority: int = 0, **extra) -> dict:
    """A one-circle plan from ``start`` to ``end`` seconds after T0."""
    return {"id": plan_id, "priority": priority, **extra,
            "volumes": [{"circle": {"lat": lat, "lon": lon, "radius": radius}, "altitude": list(altitude),
                         "time": [iso(T0 + start), iso(T0 + end)]}]}


def tracks(*rows: dict) -> dict:
    """Columnar batch from row dicts (SPEC §2 names); missing kinematics default to level flight."""
    defaults = {"velocity": 200.0, "heading": 90.0, "vertrate": 0.0, "baroaltitude": 9000.0, "callsign": ""}
    full = [{**defaults, **row} for row in rows]
    return {name: [row[name] for row in full] for name in full[0]}


def head_on(time: float = T0, a: str = "a1", b: str = "b1") -> tuple[dict, dict]:
    """Two aircraft 15.7 km apart closing head-on at the same level: loss of separation in ~16 s."""
    return ({"time": time, "icao24": a, "lat": 45.0, "lon": 5.0, "heading": 90.0, "callsign": "ALPHA1"},
            {"time": time, "icao24": b, "lat": 45.0, "lon": 5.2, "heading": 270.0, "callsign": "BRAVO1"})


def two_parties_and_a_cell(database: str, key: str) -> dict[str, str]:
    """A database with parties alpha and bravo, an operator each and a cell member (tokens by name:
    alpha, bravo, cell), for tests that then run `deconflict serve` processes on it."""
    from deconflict.service.deconfliction import Deconfliction
    from deconflict.service.settings import ServiceSettings

    setup = Deconfliction(ServiceSettings(database=database, key_file=key))
    for party in ("alpha", "bravo"):
        setup.add_party(party)
    tokens = {p: setup.add_member(f"{p} op", "operator", p) for p in ("alpha", "bravo")}
    tokens["cell"] = setup.add_member("cell", "cell", None)
    setup.close()
    return tokens

"""`deconflict demo`: the service on loopback with a bundled two-party scenario in accelerated time.

Scripted flights fly their routes and each party pushes its own tracks over the API; each party is
a small bot holding only its own token, so it sees what that party may see. North proposes a
climb for its aircraft in every tactical conflict and a delay of its plan in every strategic one;
south accepts; north then flies the climb or edits the plan (with its version token). At the end
both parties' receipts and the cell's whole chain are downloaded and verified.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from typing import Any, Callable

import numpy as np
import yaml
from pyproj import Geod
from sqlalchemy import func, select

from deconflict.client import Client
from deconflict.core.units import parse_altitude, parse_duration, parse_speed
from deconflict.io.plans_file import parse_time
from deconflict.service.app import create_app
from deconflict.service.background import BackgroundServer, ServerError
from deconflict.service.deconfliction import Deconfliction
from deconflict.service.errors import DemoError
from deconflict.service.need_to_know import iso
from deconflict.service.settings import ServiceSettings
from deconflict.store.audit import parse_records, verify
from deconflict.store.signatures import PartyKey, check_party_signatures, message_commitment, plan_commitment
from deconflict.store.schema import Message, StrategicConflict, TacticalConflict

_GEOD = Geod(ellps="WGS84")
CLIMB_RATE = 12.0  # m/s, a fighter's expedited climb when it flies an accepted proposal
_OFFSET = re.compile(r"^T\+(.+)$")
_TIME_OF_DAY = re.compile(r"^TOD\+(.+)$")  # the UTC time of day (HH:MM) that offset falls on
_DATE = re.compile(r"^DATE\+(\d+)d$")  # the UTC date that many days after the start


@dataclass
class ScriptedFlight:
    """A flight along waypoints (lat, lon deg; altitude m) at constant ground speed (m/s), from ``start``
    (s after the demo start), optionally looping over its route; an accepted climb overrides altitude."""

    id: str
    callsign: str
    party: str
    start: float
    speed: float
    lat: np.ndarray
    lon: np.ndarray
    altitude: np.ndarray
    loops: int = 1
    cleared_altitude: float | None = None
    cleared_at: float = 0.0
    _legs: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.loops > 1:
            self.lat = np.concatenate([np.tile(self.lat, self.loops), self.lat[:1]])
            self.lon = np.concatenate([np.tile(self.lon, self.loops), self.lon[:1]])
            self.altitude = np.concatenate([np.tile(self.altitude, self.loops), self.altitude[:1]])
        _, _, legs = _GEOD.inv(self.lon[:-1], self.lat[:-1], self.lon[1:], self.lat[1:])
        self._legs = np.concatenate([[0.0], np.cumsum(legs)])

    def state(self, t: float) -> dict[str, float] | None:
        """State at ``t`` s after the demo start, or None before departure and after arrival."""
        flown = (t - self.start) * self.speed
        if flown < 0 or flown >= self._legs[-1]:
            return None
        k = int(np.searchsorted(self._legs, flown, side="right") - 1)
        fraction = (flown - self._legs[k]) / (self._legs[k + 1] - self._legs[k])
        heading, _, leg = _GEOD.inv(self.lon[k], self.lat[k], self.lon[k + 1], self.lat[k + 1])
        lon, lat, _ = _GEOD.fwd(self.lon[k], self.lat[k], heading, fraction * leg)
        track, _, _ = _GEOD.inv(lon, lat, self.lon[k + 1], self.lat[k + 1])
        altitude = self.altitude[k] + fraction * (self.altitude[k + 1] - self.altitude[k])
        vertrate = (self.altitude[k + 1] - self.altitude[k]) / ((self._legs[k + 1] - self._legs[k]) / self.speed)
        if self.cleared_altitude is not None:
            climbed = self.altitude_at_clearance + CLIMB_RATE * (t - self.cleared_at)
            altitude = min(climbed, self.cleared_altitude)
            vertrate = CLIMB_RATE if climbed < self.cleared_altitude else 0.0
        return {"lat": lat, "lon": lon, "baroaltitude": float(altitude), "vertrate": float(vertrate),
                "heading": float(track) % 360.0, "velocity": self.speed}

    def climb(self, t: float, altitude: float) -> None:
        now = self.state(t)
        self.altitude_at_clearance = now["baroaltitude"] if now else float(self.altitude[0])
        self.cleared_altitude, self.cleared_at = altitude, t


@dataclass
class DemoScenario:
    name: str
    duration: float
    parties: dict[str, str]
    flights: list[ScriptedFlight]
    plans: dict[str, list[dict[str, Any]]]


def load_demo_scenario(name: str = "airbase_demo") -> DemoScenario:
    source = resources.files("deconflict") / "data" / "scenarios" / f"{name}.yaml"
    data = yaml.safe_load(source.read_text())
    try:
        flights = []
        for k, f in enumerate(data["flights"]):
            route = np.array([[float(p[0]), float(p[1]), parse_altitude(str(p[2]), f"flights[{k}].route")]
                              for p in f["route"]])
            flights.append(ScriptedFlight(
                id=f["id"], callsign=f["callsign"], party=f["party"], start=_offset(f["start"], f"flights[{k}].start"),
                speed=parse_speed(f["speed"], f"flights[{k}].speed"), lat=route[:, 0], lon=route[:, 1],
                altitude=route[:, 2], loops=int(f.get("loops", 1))))
        return DemoScenario(name=data["name"], duration=parse_duration(data["duration"], "duration"),
                            parties=dict(data["parties"]), flights=flights, plans=data.get("plans", {}))
    except (KeyError, TypeError, ValueError) as error:
        raise DemoError(f"{source.name}: {error}") from None


def _offset(text: str, field_name: str) -> float:
    match = _OFFSET.match(str(text))
    if not match:
        raise DemoError(f"{field_name}: expected an offset from the demo start like T+12min, got {text!r}")
    return parse_duration(match.group(1), field_name)


def absolute_times(value: Any, origin: float) -> Any:
    """The plan documents with every ``T+...`` offset replaced by an ISO 8601 time after ``origin``."""
    if isinstance(value, dict):
        return {k: absolute_times(v, origin) for k, v in value.items()}
    if isinstance(value, list):
        return [absolute_times(v, origin) for v in value]
    if isinstance(value, str) and _OFFSET.match(value):
        return iso(origin + _offset(value, "time"))
    if isinstance(value, str) and (match := _TIME_OF_DAY.match(value)):
        moment = datetime.fromtimestamp(origin + parse_duration(match.group(1), "time"), tz=timezone.utc)
        return moment.strftime("%H:%M")
    if isinstance(value, str) and (match := _DATE.match(value)):
        return datetime.fromtimestamp(origin + 86400 * int(match.group(1)), tz=timezone.utc).date().isoformat()
    return value


class PartyBot:
    """One party at the hotline, through the API with its own token only, signing its commitments with
    its own key (registered at the start; the service never holds it)."""

    def __init__(self, party: str, client: Client, proposes: bool, say: Callable[[str], None],
                 key: PartyKey | None = None) -> None:
        self.party, self.client, self.proposes, self.say = party, client, proposes, say
        self.key = key
        self.handled: set[int] = set()
        self.flown: set[int] = set()
        self.outstanding: set[str] = set()  # plans with a delay proposed and not yet carried out

    def act(self, flights: dict[str, ScriptedFlight], t: float) -> None:
        for summary in self.client.threads():
            thread = self.client.thread(summary["id"])
            messages = thread["messages"]
            if self.party not in thread["acknowledged_by"] and thread["status"] == "open":
                self._post(thread, {"kind": "acknowledge", "text": f"{self.party} on the line"})
            for message in messages:
                if message["kind"] == "proposal" and message["party"] != self.party and message["status"] == "pending" \
                        and message["id"] not in self.handled:
                    self.handled.add(message["id"])
                    self._post(thread, {"kind": "accept", "reply_to": message["id"], "text": "agreed"})
                    self.say(f"[green]{self.party}[/green] accepts proposal {message['id']}: {message['text']}")
                if message["kind"] == "proposal" and message["party"] == self.party and message["status"] == "accepted" \
                        and message["id"] not in self.flown:
                    self.flown.add(message["id"])
                    self._carry_out(message["proposal"], flights, t)
            if self.proposes and thread["conflict"] and not any(m["kind"] == "proposal" for m in messages) \
                    and thread["status"] in ("open", "escalated"):
                self._propose(thread)

    def _post(self, thread: dict, body: dict) -> None:
        self.client.post_message(thread["id"], signature=self._signature(thread["id"], body), **body)

    def _signature(self, thread: int, body: dict) -> str | None:
        if self.key is None:
            return None
        return self.key.header(message_commitment(
            self.party, thread, body.get("kind", "message"), body.get("text", ""), body.get("proposal"),
            body.get("reply_to"), body.get("answer_within")))

    def _propose(self, thread: dict) -> None:
        kind, number = thread["conflict"].split(":")
        conflicts = self.client.conflicts()
        if kind == "tactical":
            conflict = next((c for c in conflicts["tactical"] if c["id"] == thread["conflict"]), None)
            if conflict is None:
                return
            own = conflict["state_a"] if conflict["party_a"] == self.party else conflict["state_b"]
            level = int(np.ceil((own["altitude"] / 0.3048 + 2000) / 1000) * 10)
            proposal = {"type": "manoeuvre", "aircraft": own["icao24"], "action": "climb", "value": f"FL{level}"}
            text = f"{own['callsign']} climbs to FL{level} now"
        else:
            conflict = next((c for c in conflicts["strategic"] if c["id"] == thread["conflict"]), None)
            if conflict is None or conflict["plan"] in self.outstanding:
                return  # cleared meanwhile, or a change of that plan is already on the table
            self.outstanding.add(conflict["plan"])
            overlap = conflict["overlap"]["properties"]
            span = parse_time(overlap["time_end"]) - parse_time(overlap["time_start"])
            minutes = int(np.ceil((span + 300.0) / 300.0) * 5)  # clear the overlap, 5 min to spare, in 5 min steps
            proposal = {"type": "plan_change", "plan": conflict["plan"], "action": "delay", "value": f"{minutes}min"}
            text = f"{conflict['plan']} departs {minutes} min later"
        self._post(thread, {"kind": "proposal", "text": text, "proposal": proposal})
        self.say(f"[cyan]{self.party}[/cyan] proposes on thread {thread['id']}: {text}")

    def _carry_out(self, proposal: dict, flights: dict[str, ScriptedFlight], t: float) -> None:
        if proposal["type"] == "manoeuvre":
            flights[proposal["aircraft"]].climb(t, parse_altitude(proposal["value"], "value"))
            self.say(f"[cyan]{self.party}[/cyan] {proposal['aircraft']} climbing to {proposal['value']}")
            return
        plan = self.client.plan(self.party, proposal["plan"])
        document = _delayed(plan["document"], parse_duration(proposal["value"], "value"))
        signature = None if self.key is None else self.key.header(
            plan_commitment(self.party, proposal["plan"], document, plan["version"]))
        answer = self.client.update_plan(self.party, proposal["plan"], document, plan["version"], signature)
        self.outstanding.discard(proposal["plan"])
        self.say(f"[cyan]{self.party}[/cyan] plan {proposal['plan']} delayed {proposal['value']} "
                 f"(version {answer['version']}, {len(answer['conflicts'])} conflicts left)")


def _delayed(document: dict, seconds: float) -> dict:
    """The plan document with its route departure and volume times moved ``seconds`` later."""
    def shift(text: str) -> str:
        return iso(parse_time(text) + seconds)

    out = dict(document)
    if "route" in out and out["route"].get("departure"):
        out["route"] = {**out["route"], "departure": shift(out["route"]["departure"])}
    if "volumes" in out:
        out["volumes"] = [{**v, "time": [shift(v["time"][0]), shift(v["time"][1])]} for v in out["volumes"]]
    return out


@dataclass
class DemoResult:
    tactical_raised: int
    strategic_raised: int
    proposals: int
    accepted: int
    verified: dict[str, int]
    url: str
    tokens: dict[str, str]
    nonconforming: int = 0
    party_signatures: int = 0


class NonconformanceWatch:
    """Says when an aircraft leaves its declared plans, who is told, and when it is back (the cell's view)."""

    def __init__(self, cell: Client, say: Callable[[str], None]) -> None:
        self.cell, self.say = cell, say
        self.started: set[str] = set()
        self.ended: set[str] = set()
        self.told_to: set[tuple[str, str]] = set()

    @property
    def told(self) -> int:
        return len(self.told_to)

    def poll(self) -> None:
        for record in self.cell.nonconformances():
            if record["id"] not in self.started:
                self.started.add(record["id"])
                outside = record["detail"]["outside_by"] or {}
                self.say(f"[magenta]nonconforming[/magenta] {record['icao24']} ({record['party']}) left "
                         f"{', '.join(record['plans'])}: {outside.get('lateral_m', 0):.0f} m out laterally, "
                         f"{outside.get('vertical_m', 0):.0f} m vertically; plan state Nonconforming")
            for told in record["told"]:
                if (record["id"], told["party"]) not in self.told_to:
                    self.told_to.add((record["id"], told["party"]))
                    reach = ", ".join(told["aircraft"] + told["plans"]) or "its airspace"
                    self.say(f"[magenta]{told['party']} told[/magenta]: {record['icao24']} of {record['party']} "
                             f"is off its plan and could reach {reach}")
            if record["ended"] and record["id"] not in self.ended:
                self.ended.add(record["id"])
                self.say(f"[green]conforming again[/green] {record['icao24']} ({record['end_reason']})")


def run_demo(database: str, port: int = 8000, speed: float = 40.0, duration: float | None = None,
             say: Callable[[str], None] = print, keep_serving: bool = False,
             ready: Callable[[str, dict[str, str]], None] | None = None, bots: bool = True) -> DemoResult:
    """Run the scenario against a service on 127.0.0.1:``port`` with the SQLite file ``database``.

    ``bots`` False: nobody answers on the hotline but you (on the map, or with curl); the flights,
    plans and detection run all the same."""
    scenario = load_demo_scenario()
    duration = scenario.duration if duration is None else duration
    origin = float(int(time.time() // 60 * 60))  # a whole minute: daily schedules are in HH:MM
    settings = ServiceSettings(database=database, clock_origin=origin, clock_speed=speed,
                               detection_period=max(0.2, 2.0 / speed), acknowledge_within=120.0,
                               proposal_deadline=300.0)
    service = Deconfliction(settings)
    tokens = {"cell": service.add_member("demo cell", "cell", None)}
    for party, title in scenario.parties.items():
        service.add_party(party, title)
        tokens[party] = service.add_member(f"{party} operator", "operator", party)
    server = BackgroundServer(create_app(service), port=port)
    try:
        url = server.start()
    except ServerError as error:
        raise DemoError(str(error)) from None
    if ready is not None:
        ready(url, tokens)
    clients = {name: Client(url, token, timeout=30) for name, token in tokens.items()}
    try:
        keys = {party: PartyKey.generate() for party in scenario.parties} if bots else {}
        for party, key in keys.items():  # each party's own signing key: the record proves what it committed to
            clients[party].register_key(key.public_text)
            say(f"[bold]{party}[/bold] registers its signing key {key.id}")
        for party, documents in scenario.plans.items():
            for document in absolute_times(documents, origin):
                signature = keys[party].header(plan_commitment(party, document["id"], document, 0)) \
                    if party in keys else None
                answer = clients[party].submit_plan(document, signature)
                say(f"[bold]{party}[/bold] files plan {answer['id']}: {answer['status']}, "
                    f"{len(answer['conflicts'])} conflict(s)")
        flights = {f.id: f for f in scenario.flights}
        parties = [PartyBot("north", clients["north"], proposes=True, say=say, key=keys["north"]),
                   PartyBot("south", clients["south"], proposes=False, say=say, key=keys["south"])] if bots else []
        seen: set[str] = set()
        showing: set[str] = set()
        straying = NonconformanceWatch(clients["cell"], say)
        while (t := service.clock.now() - origin) < duration:
            for party in scenario.parties:
                rows = [{"time": origin + t, "icao24": f.id, "callsign": f.callsign, **state}
                        for f in flights.values() if f.party == party and (state := f.state(t)) is not None]
                if rows:
                    clients[party].push_tracks(rows)
            current = clients["cell"].conflicts()["tactical"]
            for gone in sorted(showing - {c["id"] for c in current}):
                say(f"[green]cleared[/green] {gone}")
            showing = {c["id"] for c in current}
            for conflict in current:
                if conflict["id"] not in seen:
                    seen.add(conflict["id"])
                    say(f"[red]conflict[/red] {conflict['id']}: {conflict['a']} / {conflict['b']} level "
                        f"{conflict['level']}, loss of separation in {conflict['t_in']:.0f} s, closest "
                        f"{conflict['d_cpa'] / 1852:.1f} NM")
            straying.poll()
            for bot in parties:
                bot.act(flights, t)
            if not bots:  # manual hotline: real time while a thread waits for a person, fast otherwise
                waiting = any(thread["status"] in ("open", "escalated") and (thread["conflict"] or "").startswith("tactical:")
                              for thread in clients["cell"].threads())
                wanted = 1.0 if waiting else speed  # plan conflicts are hours ahead: they need no real time
                if service.clock.speed != wanted:
                    service.clock.set_speed(wanted)
                    say(f"[bold]time x{wanted:g}[/bold]: " + ("a tactical conflict waits on the hotline: answer it "
                                                               "on the map" if waiting else "no tactical thread waiting"))
            time.sleep(0.25)
        verified = {}
        signed = 0
        for name, client in clients.items():
            records, head = parse_records(client.audit_receipts(), f"{name}'s receipts")
            verified[name] = verify(records, head, service.key.public).entries
            checked = check_party_signatures([json.loads(r["body"]) for r in records])
            if name == "cell":
                signed = checked.verified
        with service.Session() as session:
            counts = (session.scalar(select(func.count()).select_from(TacticalConflict)),
                      session.scalar(select(func.count()).select_from(StrategicConflict)),
                      session.scalar(select(func.count()).where(Message.kind == "proposal")),
                      session.scalar(select(func.count()).where(Message.kind == "accept")))
        missing = [scene for scene, happened in (
            ("the two tactical conflicts of the fighters with the cargo flight", counts[0] >= 2),
            ("the strategic conflicts of the strike plan with the cargo arrivals", counts[1] >= 1),
            ("the proposals accepted on the hotline", not bots or counts[3] >= 2),
            ("the patrol fighter straying from its box flagged and south told", straying.told >= 1)) if not happened]
        if keep_serving:
            say(f"scenario over; still serving {url} (Ctrl-C to stop)")
            server.wait()
        if missing and duration >= scenario.duration:  # a whole demo that did not show what it promises must not look like a success
            raise DemoError(f"the demo ran, but {'; '.join(missing)} did not happen (counted {counts[0]} tactical, "
                            f"{counts[1]} strategic, {counts[3]} accepted); the machine may be too busy for "
                            f"--speed {speed:g}: try a lower one")
        return DemoResult(*counts, verified=verified, url=url, tokens=tokens, nonconforming=len(straying.started),
                          party_signatures=signed)
    finally:
        for client in clients.values():
            client.close()
        server.stop()

"""A strategic check that reveals nothing unless there is a conflict (issue 15).

Two parties, A (checking a new plan) and B (holding its plans), learn whether A's plan may conflict
with any of B's, and where, without showing each other (or the service) anything else:

1. **Offer** (B -> A, once per change of B's plans): the token grid, the time window B's cover spans,
   the PSI setup message (B's tokens, encrypted under B's key, in a Golomb-compressed set), the
   number of B's tokens, and the SHA-256 commitment of B's cover (`core.cover.cover_digest`).
2. **Private set intersection** (`openmined-psi`, elliptic-curve Diffie-Hellman PSI): A sends its new
   plan's tokens blinded with its key; B answers them raised to its key; A learns which of its tokens
   B also holds (or, in count-only mode, only how many). B learns only how many tokens A sent.
3. **Reveal** (only when tokens are shared, and only for them): A sends the shared tokens and its own
   volumes that hold them; B checks that A's volumes really hold every token asked (so A cannot fish
   for B's volumes in cells it does not occupy), and answers with its volumes that hold them (no plan
   ids, no other volumes). Both run the exact overlap test on what was revealed.

What each side learns (the leakage), by step: A learns the size of B's cover (1), which of its own
tokens B's cover holds (2; count-only: how many), and B's volumes in those cells (3); B learns how many
tokens A's plan has (2) and A's volumes in the shared cells (3). Neither learns anything of the
other's plans away from the shared cells. Only the cell grid's coarseness separates "may conflict"
from "conflicts": the exact test on the revealed volumes decides.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from deconflict.core.cover import CoverError, CoverGrid, cover_digest, plan_cover, plan_volumes, volume_cover
from deconflict.core.plans import Plan, plan_life
from deconflict.core.volumes import Circle, Polygon, Volume4D, VolumeError, overlap
from deconflict.errors import DeconflictError

FALSE_POSITIVE_RATE = 1e-9  # of the PSI's compressed set, over all of a request's tokens
MAX_REQUEST_TOKENS = 20_000  # tokens one request may send (a plan's cover; the setup is sized for it)
MAX_REVEAL_TOKENS = 2_000  # shared tokens one reveal may ask about


class PrivateCheckError(DeconflictError, ValueError):
    """A private check that cannot go on: a peer that breaks the protocol, or a plan outside the
    window the peer's cover spans."""


def _psi():  # noqa: ANN202 - the library loads a native extension: only when a private check runs
    import private_set_intersection.python as psi

    return psi


def volume_to_wire(volume: Volume4D) -> dict[str, Any]:
    footprint = volume.footprint
    shape = ({"circle": {"lat": footprint.lat, "lon": footprint.lon, "radius": footprint.radius}}
             if isinstance(footprint, Circle) else {"polygon": [list(v) for v in footprint.vertices]})
    return {**shape, "altitude": [volume.altitude_lower, volume.altitude_upper],
            "time": [volume.time_start, volume.time_end]}


def volume_from_wire(data: Any, where: str) -> Volume4D:
    try:
        if "circle" in data:
            c = data["circle"]
            footprint = Circle(float(c["lat"]), float(c["lon"]), float(c["radius"]))
        else:
            footprint = Polygon(tuple((float(lat), float(lon)) for lat, lon in data["polygon"]))
        return Volume4D(footprint, float(data["altitude"][0]), float(data["altitude"][1]), float(data["time"][0]),
                        float(data["time"][1]))
    except (KeyError, TypeError, ValueError, IndexError, VolumeError) as error:
        raise PrivateCheckError(f"{where}: not a volume ({error})") from None


class CoverHolder:
    """Party B: its plans' cover over [start, end], and the answers of the protocol."""

    def __init__(self, plans: list[Plan], grid: CoverGrid, start: float, end: float) -> None:
        psi = _psi()
        self.grid, self.start, self.end = grid, start, end
        self._volumes: list[Volume4D] = [v for plan in plans for v in plan_volumes(plan, start, end)]
        self._by_token: dict[str, list[int]] = {}
        for number, volume in enumerate(self._volumes):
            for token in volume_cover(volume, grid):
                self._by_token.setdefault(token, []).append(number)
        key = psi.server.CreateWithNewKey(True).GetPrivateKeyBytes()
        self._servers = {reveal: psi.server.CreateFromKey(key, reveal) for reveal in (True, False)}
        tokens = list(self._by_token) or [f"{grid.name}|empty"]
        self._setup = self._servers[True].CreateSetupMessage(FALSE_POSITIVE_RATE, MAX_REQUEST_TOKENS, tokens,
                                                             psi.DataStructure.GCS).SerializeToString()
        self.digest = cover_digest(self._by_token)

    def offer(self) -> dict[str, Any]:
        """Step 1: what A needs to run checks (sent once, cached by A until B's plans change)."""
        return {"grid": {"row_degrees": self.grid.row_degrees, "band": self.grid.band, "bucket": self.grid.bucket,
                         "margin": self.grid.margin},
                "window": [self.start, self.end], "tokens": len(self._by_token), "digest": self.digest,
                "setup": base64.b64encode(self._setup).decode()}

    def answer(self, request: bytes, reveal: bool = True) -> bytes:
        """Step 2: A's blinded tokens raised to B's key (shuffled in count-only mode)."""
        psi = _psi()
        message = psi.Request()
        try:
            message.ParseFromString(request)
        except Exception:  # protobuf's DecodeError: a request that is not one
            raise PrivateCheckError("request: not a PSI request") from None
        if len(message.encrypted_elements) > MAX_REQUEST_TOKENS:
            raise PrivateCheckError(f"request: {len(message.encrypted_elements)} tokens, at most {MAX_REQUEST_TOKENS}")
        return self._servers[reveal].ProcessRequest(message).SerializeToString()

    def reveal(self, tokens: list[str], theirs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Step 3: B's volumes in the shared cells, once A has shown its own volumes occupy them."""
        if not isinstance(tokens, list) or not 1 <= len(tokens) <= MAX_REVEAL_TOKENS:
            raise PrivateCheckError(f"reveal: expected 1 to {MAX_REVEAL_TOKENS} tokens")
        occupied: set[str] = set()
        for k, data in enumerate(theirs[:MAX_REVEAL_TOKENS]):
            try:
                occupied |= volume_cover(volume_from_wire(data, f"volumes[{k}]"), self.grid)
            except CoverError as error:
                raise PrivateCheckError(f"volumes[{k}]: {error}") from None
        unoccupied = [t for t in tokens if t not in occupied]
        if unoccupied:
            raise PrivateCheckError(f"reveal: token {unoccupied[0]!r} is held by none of your volumes: "
                                    f"B shows its volumes only in cells your plan occupies")
        numbers = sorted({n for t in tokens for n in self._by_token.get(t, ())})
        return [volume_to_wire(self._volumes[n]) for n in numbers]


@dataclass
class PrivateCheckResult:
    """A's answer: how many of its tokens B's cover shares, and (full mode) the exact conflicts found on
    the volumes revealed: (volume of A's plan, B's volume, overlap)."""

    shared: int
    conflicts: list[tuple[int, dict[str, Any], Any]] = field(default_factory=list)
    revealed: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0

    @property
    def conflicting(self) -> bool:
        return bool(self.conflicts)


class PrivateChecker:
    """Party A: checks a new plan against B through ``peer`` (an object with ``answer(bytes, reveal)`` and
    ``reveal(tokens, volumes)``: a `CoverHolder` in process, or the HTTP client of a peer)."""

    def __init__(self, offer: dict[str, Any]) -> None:
        try:
            self.grid = CoverGrid(**offer["grid"])
            self.window = (float(offer["window"][0]), float(offer["window"][1]))
            self.setup_bytes = base64.b64decode(offer["setup"])
            self.digest = str(offer["digest"])
        except (KeyError, TypeError, ValueError):
            raise PrivateCheckError("offer: expected grid, window, setup and digest") from None
        psi = _psi()
        self._setup = psi.ServerSetup()
        try:
            self._setup.ParseFromString(self.setup_bytes)
        except Exception:
            raise PrivateCheckError("offer: the setup is not a PSI setup message") from None

    def check(self, plan: Plan, peer: Any, count_only: bool = False) -> PrivateCheckResult:
        psi = _psi()
        volumes = plan_volumes(plan, *self.window)
        start, end = plan_life(plan)
        if start < self.window[0] or end > self.window[1]:  # what lies outside would go unchecked: refuse
            raise PrivateCheckError(f"plan {plan.id!r} reaches outside the window the peer's cover spans "
                                    f"({self.window[0]:.0f}-{self.window[1]:.0f}): ask it for a wider one")
        covers = [volume_cover(v, self.grid) for v in volumes]
        tokens = sorted(set().union(*covers)) if covers else []
        if not tokens:
            return PrivateCheckResult(0)
        client = psi.client.CreateWithNewKey(not count_only)
        request = client.CreateRequest(tokens).SerializeToString()
        response_bytes = peer.answer(request, not count_only)
        response = psi.Response()
        try:
            response.ParseFromString(response_bytes)
        except Exception:
            raise PrivateCheckError("peer: its answer is not a PSI response") from None
        result = PrivateCheckResult(0, bytes_sent=len(request), bytes_received=len(response_bytes))
        if count_only:
            result.shared = int(client.GetIntersectionSize(self._setup, response))
            return result
        shared = [tokens[k] for k in client.GetIntersection(self._setup, response)]
        result.shared = len(shared)
        if not shared:
            return result
        mine = [k for k, cover in enumerate(covers) if cover & set(shared)]
        shown = [volume_to_wire(volumes[k]) for k in mine]
        theirs = peer.reveal(shared, shown)
        result.revealed = len(theirs)
        result.bytes_sent += len(json.dumps({"tokens": shared, "volumes": shown}))  # as the HTTP peer sends them
        result.bytes_received += len(json.dumps({"volumes": theirs}))
        for n, data in enumerate(theirs):
            volume = volume_from_wire(data, f"peer volume {n}")
            if not volume_cover(volume, self.grid) & set(shared):
                raise PrivateCheckError(f"peer volume {n}: outside every cell asked (the peer broke the protocol)")
            for k in mine:
                found = overlap(volumes[k], volume, self.grid.margin)
                if found is not None:
                    result.conflicts.append((k, data, found))
        return result


def cover_commitment(plans: list[Plan], grid: CoverGrid, start: float, end: float) -> str:
    """The digest an honest holder of ``plans`` offers (`CoverHolder.digest`): for whoever later sees
    the plans (the cell, in a dispute) to prove a party offered a forged cover."""
    return cover_digest(set().union(*(plan_cover(plan, grid, start, end) for plan in plans)))

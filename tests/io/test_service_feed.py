"""A station pushing its picture to a running service: the cell sees the aircraft, stamped with the
party given; a bad token stops the feed with one line."""

from __future__ import annotations

from importlib import resources

import httpx
import pytest

from deconflict.cli import main
from deconflict.io.states_file import read_states
from deconflict.service.app import create_app
from deconflict.service.background import BackgroundServer
from deconflict.service.deconfliction import Deconfliction
from deconflict.service.settings import ServiceSettings
from tests.servers import free_port

SAMPLE = resources.files("deconflict") / "data" / "sample_states.csv"


@pytest.fixture
def service_at_recording_time(tmp_path):
    with pytest.warns(UserWarning):
        latest = float(read_states(SAMPLE).time.max())
    service = Deconfliction(ServiceSettings(database=str(tmp_path / "feed.db"), key_file=str(tmp_path / "k"),
                                            clock_origin=latest, clock_speed=1.0))
    token = service.add_member("station", "cell", None)
    with BackgroundServer(create_app(service), port=free_port()) as url:
        yield url, token
    service.close()


def test_station_replay_pushes_its_picture(service_at_recording_time, capsys):
    url, token = service_at_recording_time
    with pytest.raises(SystemExit) as done:
        main(["station", "--replay", str(SAMPLE), "--format", "states", "--push", url, "--token", token,
              "--party", "radar"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "batches pushed" in out and "state vectors pushed" in out
    seen = httpx.get(f"{url}/v1/tracks", headers={"Authorization": f"Bearer {token}"}).json()
    assert len(seen) > 200 and {a["party"] for a in seen} == {"radar"}


def test_bad_token_stops_the_feed_with_one_line(service_at_recording_time, capsys):
    url, _ = service_at_recording_time
    with pytest.raises(SystemExit) as done:
        main(["station", "--replay", str(SAMPLE), "--format", "states", "--push", url, "--token", "dcf_wrong"])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "401" in err and len(err.splitlines()) == 1


def test_an_old_recording_pushed_with_retime_reaches_a_live_service(tmp_path, capsys):
    """Pushed as they are, a recording's 2015 reports were all dropped as stale by a service on real time."""
    service = Deconfliction(ServiceSettings(database=str(tmp_path / "live.db"), key_file=str(tmp_path / "k")))
    token = service.add_member("station", "cell", None)
    with BackgroundServer(create_app(service), port=free_port()) as url:
        for retime, expected in ((False, 0), (True, 200)):
            with pytest.raises(SystemExit) as done:
                main(["station", "--replay", str(SAMPLE), "--format", "states", "--push", url, "--token", token]
                     + (["--retime"] if retime else []))
            assert done.value.code == 0
            seen = httpx.get(f"{url}/v1/tracks", headers={"Authorization": f"Bearer {token}"}).json()
            assert (len(seen) > expected) if retime else (len(seen) == 0)
    service.close()


def test_a_feed_given_two_nodes_follows_the_leader(tmp_path):
    """`--push http://standby,http://leader`: a standby's 503 sends the batch to the leader at once, and
    when the leader goes and the standby takes over, the next batch goes to the new leader."""
    from deconflict.io.service_feed import TrackPusher
    from deconflict.core.states import States

    settings = ServiceSettings(database=str(tmp_path / "two.db"), key_file=str(tmp_path / "k"))
    first = Deconfliction(settings)
    token = first.add_member("station", "cell", None)
    second = Deconfliction(settings)
    assert (first.role, second.role) == ("leader", "standby")
    picture = States.from_arrays(["abc123"], 0.0, 45.0, 5.0, 200.0, 90.0, 0.0, 9000.0)
    with BackgroundServer(create_app(second, run_detection=False), port=free_port()) as standby_url:
        with BackgroundServer(create_app(first, run_detection=False), port=free_port()) as leader_url:
            pusher = TrackPusher(f"{standby_url},{leader_url}", token, retime=True)
            assert pusher.push(picture) == 1 and pusher.url == f"{leader_url}/v1/tracks"
        first.close()  # the leader and its server are gone
        second.check_lease()
        assert second.role == "leader"
        assert pusher.push(picture) == 1 and pusher.url == f"{standby_url}/v1/tracks"
        assert pusher.counts["batches pushed"] == 2 and "batches lost (service unreachable)" not in pusher.counts
        pusher.close()
    second.close()


def test_an_asterix_feed_reaches_the_service_through_the_station(service_at_recording_time, tmp_path, capsys):
    """ASTERIX into /v1/tracks: the station decodes (on the party's side: libasterix reads about 2,600
    records a second, which a party must not be able to make the service spend) and pushes."""
    from deconflict.io.asterix import encode_cat062

    url, token = service_at_recording_time
    with pytest.warns(UserWarning):
        sample = read_states(SAMPLE)
    snapshot = sample.snapshot(max_age=600.0)
    recording = tmp_path / "radar.ast"
    recording.write_bytes(encode_cat062(snapshot))
    import os

    os.utime(recording, (snapshot.at, snapshot.at))  # ASTERIX times are times of day: the file's day dates them
    with pytest.raises(SystemExit) as done:
        main(["station", "--replay", str(recording), "--push", url, "--token", token, "--party", "radar"])
    assert done.value.code == 0
    seen = httpx.get(f"{url}/v1/tracks", headers={"Authorization": f"Bearer {token}"}).json()
    assert len(seen) == len(snapshot) > 200 and {a["party"] for a in seen} == {"radar"}

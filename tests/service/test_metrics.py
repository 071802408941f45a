"""GET /metrics: the figures an operator watches, in the Prometheus text format, counts only."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.service.builders import head_on, plan, tracks


def _values(text: str) -> dict[tuple[str, tuple], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_metrics_follow_ingest_detection_and_conflicts(world):
    before = _values(world["anonymous"].get("/metrics").text)  # no token needed
    assert before[("deconflict_leader", ())] == 1.0
    assert before[("deconflict_open_conflicts", (("kind", "tactical"),))] == 0.0
    world["alpha_op"].post("/v1/plans", json=plan("A1"))
    world["bravo_op"].post("/v1/plans", json=plan("B1", lon=5.05))
    mine, theirs = head_on(world.clock.now())
    world["alpha_op"].post("/v1/tracks", json=tracks(mine))
    world["bravo_op"].post("/v1/tracks", json={**tracks(theirs), "lat": [95.0]})  # refused: a latitude of 95
    world["bravo_op"].post("/v1/tracks", json=tracks(theirs))
    world.service.detect_now()
    answer = world["anonymous"].get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    after = _values(answer.text)
    assert after[("deconflict_state_vectors_accepted_total", ())] == 2.0
    assert after[("deconflict_state_vectors_rejected_total", ())] == 1.0
    assert after[("deconflict_open_conflicts", (("kind", "tactical"),))] == 1.0
    assert after[("deconflict_open_conflicts", (("kind", "strategic"),))] == 1.0
    assert after[("deconflict_detection_cycle_seconds_count", ())] >= 1.0
    assert after[("deconflict_tracks", ())] == 2.0 and after[("deconflict_plans_stored", ())] == 2.0
    assert "a1" not in answer.text and "alpha" not in answer.text  # nothing of any party's data

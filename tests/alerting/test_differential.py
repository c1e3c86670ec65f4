"""The differential test: every scenario in ``differential/scenarios`` is played against Debian's
``prometheus-alertmanager`` and jboxmon's alerting service at once; their notifications (and their
``GET /api/v2/alerts`` answers where a scenario asks) must agree. Scenarios run concurrently, each for
a few seconds with 1-2 s group timers, so the whole file takes about the longest scenario plus start-up.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.alerting.differential.harness import (
    BINARY,
    compare_notifications,
    compare_silences,
    compare_snapshots,
    run_scenario,
)

SCENARIOS = sorted((Path(__file__).parent / "differential" / "scenarios").glob("*.yaml"))
# notification times. Scenario events are >= 0.7 s away from any group timer, and a notification one
# group_interval (2 s) early or late is still caught; 1 s leaves room for 2 loaded cores (SQLite syncs).
TOLERANCE_S = 1.0
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BINARY is None, reason="Debian's prometheus-alertmanager is not installed"),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """All scenarios at once (each waits on its own timers, so they overlap well on two cores)."""
    root = tmp_path_factory.mktemp("differential")
    with ThreadPoolExecutor(max_workers=len(SCENARIOS)) as pool:
        futures = {path.stem: pool.submit(run_scenario, path, root / path.stem) for path in SCENARIOS}
        return {name: future.result() for name, future in futures.items()}


def test_at_least_eight_scenarios() -> None:
    assert len(SCENARIOS) >= 8


@pytest.mark.parametrize("scenario", [path.stem for path in SCENARIOS])
def test_same_notifications_as_alertmanager(results: dict[str, dict], scenario: str) -> None:
    am, jb = results[scenario]["alertmanager"], results[scenario]["jboxmon"]
    assert am["notifications"], "Alertmanager sent nothing: the scenario proves nothing"
    problems = compare_notifications(am["notifications"], jb["notifications"], TOLERANCE_S)
    problems += compare_snapshots(am["snapshots"], jb["snapshots"])
    problems += compare_silences(am["silences"], jb["silences"], TOLERANCE_S)
    if am["kept_ids"] != jb["kept_ids"]:
        problems.append(f"silence updates kept their id: alertmanager {am['kept_ids']}, jboxmon {jb['kept_ids']}")
    assert not problems, "\n".join(problems)

"""Physics sanity and fault signatures, read from the simulated steps."""

from __future__ import annotations

import numpy as np

from simulator.faults import TRANSIENT
from simulator.fleet import AFRR, FCR, IDLE
from simulator.logs import LEVELS
from simulator.physics import PhysicsParams, fcr_setpoint

P = 1000.0


def _mask(run, scenario, event):
    return (run.t_ms >= event.start_ms) & (run.t_ms < event.end_ms)


def test_fcr_droop_and_dead_band():
    params = PhysicsParams()
    freq = np.array([50.0, 50.01, 49.99, 50.011, 49.9, 50.1, 49.8, 50.2, 49.5, 50.5])
    expected = [0, 0, 0, -55, 500, -500, 1000, -1000, 1000, -1000]
    assert np.allclose(fcr_setpoint(freq, params), expected)


def test_grid_frequency(hour_run):
    _, run = hour_run
    assert 49.7 <= run.freq.min() and run.freq.max() <= 50.3
    assert 0.02 < run.freq.std() < 0.06  # Continental Europe: a few tens of mHz
    assert np.allclose(run.freq, np.round(run.freq, 3))  # 1 mHz resolution


def test_setpoints_by_service(hour_run):
    scenario, run = hour_run
    service = scenario.fleet.service
    fcr = run.p_setpoint[:, service == FCR]
    # Under-frequency -> discharge (positive); all FCR boxes share the same setpoint.
    expected = fcr_setpoint(run.freq, scenario.params)
    assert np.allclose(fcr, expected[:, None], atol=0.051)
    assert (fcr[run.freq < 49.99] > 0).all() and (fcr[run.freq > 50.01] < 0).all()
    assert (run.p_setpoint[:, service == IDLE] == 0).all()
    afrr = run.p_setpoint[:, service == AFRR]
    assert np.abs(afrr).max() <= P and afrr.std() > 50


def test_healthy_boxes_follow_setpoint_with_small_noise(hour_run):
    scenario, run = hour_run
    healthy = _healthy(scenario)
    error = run.p_meas[:, healthy] - run.p_setpoint[:, healthy]
    assert np.abs(error).max() < 8 * 0.005 * P + 5  # lag settles within a 10 s step: only noise is left
    assert 0.003 * P < error.std() < 0.008 * P


def test_soc_and_temperature_bounds(hour_run):
    scenario, run = hour_run
    assert run.soc.min() >= 0 and run.soc.max() <= 100
    healthy = _healthy(scenario)
    assert 15 <= run.soc[:, healthy].min() and run.soc[:, healthy].max() <= 85
    assert 20 <= run.temp[:, healthy].min() and run.temp[:, healthy].max() < 45


def test_soc_falls_when_discharging(hour_run):
    scenario, run = hour_run
    healthy = np.nonzero(_healthy(scenario) & (scenario.fleet.service == AFRR))[0]
    dsoc = np.diff(run.soc[:, healthy], axis=0)
    power = run.p_meas[1:, healthy]
    strong = np.abs(power) > 300
    assert strong.sum() > 100
    assert (np.sign(dsoc[strong]) == -np.sign(power[strong])).mean() > 0.95


def test_fault_signatures(hour_run):
    scenario, run = hour_run
    seen = set()
    for event in scenario.plan.events:
        box, during = event.box, _mask(run, scenario, event)
        deviation = np.abs(run.p_meas[during, box] - run.p_setpoint[during, box])
        seen.add(event.kind)
        if event.kind == "power_stuck":
            assert (run.p_meas[during, box] == event.details["stuck_kw"]).all()
            assert (deviation > 0.05 * P + 50).mean() > 0.8
        elif event.kind == "setpoint_not_followed":
            assert (deviation > 0.05 * P + 50).mean() > 0.9
        elif event.kind == "silent":
            assert not run.reporting[during, box].any()
            assert not any(b == box and event.start_ms <= t < event.end_ms for b, t in run.heartbeats)
            assert not any(b == box and event.start_ms <= t < event.end_ms for b, t, _, _ in run.logs)
        elif event.kind == "overheat":
            assert run.temp[during, box].max() > 55
        elif event.kind == "soc_drift":
            assert run.soc[during, box].min() < 10 or run.soc[during, box].max() > 90
        elif event.kind == "log_storm":
            errors = sum(
                1
                for b, t, lvl, _ in run.logs
                if b == box and lvl == LEVELS.index("error") and event.start_ms <= t < event.end_ms
            )
            rate = errors / ((event.end_ms - event.start_ms) / 1000)
            assert 1.5 < rate < 11
        elif event.kind == TRANSIENT:
            assert (deviation > 0.05 * P + 50).any()
    assert seen >= {
        "power_stuck",
        "setpoint_not_followed",
        "silent",
        "overheat",
        "soc_drift",
        "log_storm",
        TRANSIENT,
    }


def test_heartbeats_hourly_with_own_phase(hour_run):
    scenario, run = hour_run
    by_box: dict[int, list[int]] = {}
    for box, t in run.heartbeats:
        by_box.setdefault(box, []).append(t)
    silent = {e.box for e in scenario.plan.events if e.kind == "silent"}
    for box in set(range(len(scenario.fleet))) - silent:
        times = by_box[box]
        assert len(times) == 2 and times[1] - times[0] == 3_600_000  # 2 h window
        assert (times[0] // 1000) % 3600 == scenario.fleet.heartbeat_phase_s[box]
    assert len({t % 3_600_000 for ts in by_box.values() for t in ts}) > 50  # phases are spread


def test_healthy_logs_are_rare_and_timestamps_unique(hour_run):
    scenario, run = hour_run
    healthy = set(np.nonzero(_healthy(scenario))[0].tolist())
    healthy_logs = [r for r in run.logs if r[0] in healthy]
    per_box_hour = len(healthy_logs) / len(healthy) / 2
    assert 5 < per_box_hour < 20
    assert {LEVELS[r[2]] for r in healthy_logs} >= {"debug", "info", "warning"}
    assert all(code[0] in "DIWEC" and len(code) == 4 for _, _, _, code in run.logs)
    assert len({(b, t) for b, t, _, _ in run.logs}) == len(run.logs)


def _healthy(scenario) -> np.ndarray:
    affected = {e.box for e in scenario.plan.events}
    return np.array([i not in affected for i in range(len(scenario.fleet))])

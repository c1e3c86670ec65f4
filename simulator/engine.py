"""The step loop: grid signals + setpoints + faults + physics -> what each box reports, per step.

Both outputs (InfluxDB backfill and live HTTP push) consume :meth:`FleetSimulator.steps`, so they
see identical data for the same scenario.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from simulator import faults as f
from simulator.fleet import AFRR, FCR
from simulator.logs import LogBatch, LogGenerator
from simulator.physics import BoxPhysics, fcr_setpoint
from simulator.scenario import Scenario


@dataclass(frozen=True)
class Heartbeats:
    """Heartbeats due during one step (index-aligned arrays)."""

    box: np.ndarray
    t_ms: np.ndarray
    uptime_s: np.ndarray
    disk_used_pct: np.ndarray

    def __len__(self) -> int:
        return len(self.box)


@dataclass(frozen=True)
class Step:
    """Everything the fleet reports for ``[t_ms, t_ms + interval)``.

    Telemetry arrays cover every box; ``reporting`` is False for silent boxes, which send nothing.
    """

    index: int
    t_ms: int
    freq_hz: float
    reporting: np.ndarray
    p_meas_kw: np.ndarray
    p_setpoint_kw: np.ndarray
    soc_pct: np.ndarray
    temp_max_c: np.ndarray
    heartbeats: Heartbeats
    logs: LogBatch


class FleetSimulator:
    """Runs a :class:`Scenario` step by step; ``steps()`` is single-use (make a new simulator to replay)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        fleet, window = scenario.fleet, scenario.window
        n = len(fleet)
        streams = scenario.streams()
        self._physics = BoxPhysics(n, scenario.params, fleet.temp_offset_c, window.start_ms, streams.physics)
        self._logs = LogGenerator(n, streams.logs)
        self._is_fcr = fleet.service == FCR
        self._is_afrr = fleet.service == AFRR
        self._hb_phase_ms = fleet.heartbeat_phase_s.astype(np.int64) * 1000
        self._hb_period_ms = int(scenario.params.heartbeat_interval_s * 1000)  # fleet.heartbeat_interval

    def steps(self) -> Iterator[Step]:
        window = self.scenario.window
        for k in range(window.steps):
            yield self._step(k, window.time_ms(k), window.interval_ms)

    def _step(self, k: int, t_ms: int, interval_ms: int) -> Step:
        s, plan, params = self.scenario, self.scenario.plan, self.scenario.params
        freq = float(s.grid.freq_hz[k])
        setpoint = np.zeros(len(s.fleet))
        setpoint[self._is_fcr] = fcr_setpoint(freq, params)
        setpoint[self._is_afrr] = np.round(s.grid.afrr_level[k] * params.power_kw * s.fleet.afrr_gain[self._is_afrr], 1)

        target = setpoint.copy()
        ignoring = plan.active(f.SETPOINT_NOT_FOLLOWED, t_ms)
        against = np.where(setpoint[ignoring] >= 0, 1.0, -1.0)
        target[ignoring] = setpoint[ignoring] - against * plan.param[ignoring]
        transient = plan.transient_active(t_ms)
        target[transient] += plan.transient_offset_kw[transient]
        self._physics.step(target, interval_ms / 1000.0, t_ms)

        p_meas = self._physics.measured_power()
        stuck = plan.active(f.POWER_STUCK, t_ms)
        p_meas[stuck] = plan.param[stuck]  # a frozen reading: no noise at all
        silent = plan.active(f.SILENT, t_ms)
        storm = np.where(plan.active(f.LOG_STORM, t_ms), plan.param, 0.0)
        return Step(
            index=k,
            t_ms=t_ms,
            freq_hz=freq,
            reporting=~silent,
            p_meas_kw=np.round(p_meas, 1),
            p_setpoint_kw=np.round(setpoint, 1),
            soc_pct=np.round(self._soc(t_ms), 2),
            temp_max_c=np.round(self._temperature(t_ms), 1),
            heartbeats=self._heartbeats(t_ms, interval_ms, silent),
            logs=self._logs.step(t_ms, interval_ms, silent, storm),
        )

    def _soc(self, t_ms: int) -> np.ndarray:
        """Reported SoC: the physical one, except where the estimator drifts (soc_drift)."""
        plan = self.scenario.plan
        soc = self._physics.soc.copy()
        drifting = plan.active(f.SOC_DRIFT, t_ms)
        minutes = (t_ms - plan.start_ms[drifting]) / 60_000.0
        soc[drifting] = np.clip(soc[drifting] + plan.param[drifting] * minutes, 0.0, 100.0)
        return soc

    def _temperature(self, t_ms: int) -> np.ndarray:
        """Hottest cell: the thermal state, plus a runaway ramp toward ``peak_c`` when overheating."""
        plan = self.scenario.plan
        temp = self._physics.temp.copy()
        hot = plan.active(f.OVERHEAT, t_ms)
        minutes = (t_ms - plan.start_ms[hot]) / 60_000.0
        ramped = np.minimum(temp[hot] + plan.param2[hot] * minutes, plan.param[hot])
        temp[hot] = np.maximum(temp[hot], ramped)
        return temp

    def _heartbeats(self, t_ms: int, interval_ms: int, silent: np.ndarray) -> Heartbeats:
        """Each box beats once per heartbeat interval at its own phase; the beat due in this step, if any."""
        due = t_ms + (self._hb_phase_ms - t_ms) % self._hb_period_ms
        box = np.nonzero((due < t_ms + interval_ms) & ~silent)[0]
        fleet, start = self.scenario.fleet, self.scenario.window.start_ms
        t = due[box]
        elapsed_s = (t - start) // 1000
        # Disks fill slowly with logs and archives: ~0.5 point a day.
        disk = np.round(fleet.disk_base_pct[box] + elapsed_s / 86_400 * 0.5, 1)
        return Heartbeats(box, t, fleet.uptime_at_start_s[box] + elapsed_s, disk)

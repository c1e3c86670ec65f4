"""Per-box physics, vectorised over the fleet: setpoints, inverter response, state of charge, heat.

Sign convention: positive power is discharge to the grid (it lowers the state of charge).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from config.model import FleetConfig

_FLEET = FleetConfig()  # box facts are declared once, in the config section


@dataclass(frozen=True)
class PhysicsParams:
    """Box facts from ``fleet:`` in the config plus model constants (which are assumptions)."""

    power_kw: float = _FLEET.box_power_kw
    energy_kwh: float = _FLEET.box_energy_kwh
    deadband_hz: float = _FLEET.fcr_deadband_hz
    full_activation_hz: float = _FLEET.fcr_full_activation_hz
    nominal_hz: float = _FLEET.nominal_frequency_hz
    heartbeat_interval_s: float = _FLEET.heartbeat_interval
    temp_warning_c: float = _FLEET.temp_warning_c
    temp_critical_c: float = _FLEET.temp_critical_c  # an overheat fault peaks above it
    lag_s: float = 3.0  # inverter response: FCR needs full activation within 30 s, real ones do ~1-5 s
    noise_share: float = 0.005  # measurement noise, 0.5% of P
    soc_restore_tau_s: float = 1800.0  # SoC management (intraday trades) pulls back to 50% in ~30 min
    thermal_tau_s: float = 1200.0  # cell temperature follows losses with a ~20 min lag
    heating_c_at_full_power: float = 10.0
    base_rise_c: float = 5.0  # auxiliaries and HVAC set point above ambient
    # The HVAC derates the box to hold its cells this far under the warning threshold; only a
    # cooling failure (the overheat fault) takes them above it. With the defaults it never binds.
    cooling_margin_c: float = 2.0

    @classmethod
    def from_config(cls, fleet: FleetConfig) -> PhysicsParams:
        return cls(
            power_kw=fleet.box_power_kw,
            energy_kwh=fleet.box_energy_kwh,
            deadband_hz=fleet.fcr_deadband_hz,
            full_activation_hz=fleet.fcr_full_activation_hz,
            nominal_hz=fleet.nominal_frequency_hz,
            heartbeat_interval_s=fleet.heartbeat_interval,
            temp_warning_c=fleet.temp_warning_c,
            temp_critical_c=fleet.temp_critical_c,
        )


def fcr_setpoint(freq_hz: float | np.ndarray, p: PhysicsParams) -> float | np.ndarray:
    """FCR droop: ``-P * (f - f0) / 0.2 Hz`` outside the ±10 mHz dead band, 0 inside, within ±P.

    Under-frequency (f < 50 Hz) gives a positive setpoint: the box discharges to support the grid.
    """
    deviation = np.asarray(freq_hz, dtype=float) - p.nominal_hz
    # Rounding guards against 50.01 - 50.0 = 0.0100000000005 falling outside the dead band.
    outside = np.round(np.abs(deviation), 6) > p.deadband_hz
    setpoint = np.where(outside, -p.power_kw * deviation / p.full_activation_hz, 0.0)
    return np.clip(setpoint, -p.power_kw, p.power_kw)


def ambient_c(t_ms: int) -> float:
    """Outdoor temperature: 15 °C at 03:00 UTC, 25 °C at 15:00 UTC."""
    hour = (t_ms / 3_600_000.0) % 24.0
    return 20.0 + 5.0 * math.sin(2.0 * math.pi * (hour - 9.0) / 24.0)


class BoxPhysics:
    """The physical state of every box; ``step`` advances it by one interval.

    ``p_true`` is what the inverter really delivers (it drives SoC and heat); the engine reports a
    measurement of it, which a faulty sensor may replace.
    """

    def __init__(
        self, n: int, params: PhysicsParams, temp_offset_c: np.ndarray, t0_ms: int, rng: np.random.Generator
    ) -> None:
        self.params = params
        self.temp_offset_c = temp_offset_c
        self._rng = rng
        self.p_true = np.zeros(n)
        self.soc = rng.uniform(40.0, 60.0, size=n)
        self.temp = ambient_c(t0_ms) + params.base_rise_c + temp_offset_c + rng.uniform(0.0, 2.0, size=n)

    def step(self, target_kw: np.ndarray, dt_s: float, t_ms: int) -> None:
        """Move the inverter toward ``target_kw`` and integrate energy and heat over ``dt_s``."""
        p = self.params
        follow = 1.0 - math.exp(-dt_s / p.lag_s)
        self.p_true += (target_kw - self.p_true) * follow
        np.clip(self.p_true, -p.power_kw, p.power_kw, out=self.p_true)
        energy_pct = self.p_true * (dt_s / 3600.0) / p.energy_kwh * 100.0
        restore = (50.0 - self.soc) * (1.0 - math.exp(-dt_s / p.soc_restore_tau_s))
        self.soc = np.clip(self.soc - energy_pct + restore, 0.0, 100.0)
        heat_target = (
            ambient_c(t_ms)
            + p.base_rise_c
            + self.temp_offset_c
            + p.heating_c_at_full_power * np.abs(self.p_true) / p.power_kw
        )
        np.minimum(heat_target, p.temp_warning_c - p.cooling_margin_c, out=heat_target)
        self.temp += (heat_target - self.temp) * (1.0 - math.exp(-dt_s / p.thermal_tau_s))

    def measured_power(self) -> np.ndarray:
        noise = self._rng.normal(0.0, self.params.noise_share * self.params.power_kw, size=self.p_true.shape)
        return self.p_true + noise

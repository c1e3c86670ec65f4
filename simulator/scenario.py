"""A scenario: everything drawn from the seed before the first step (fleet, grid, fault plan)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from config.model import FleetConfig, SimulatorConfig
from simulator.faults import FaultPlan, plan_faults
from simulator.fleet import Fleet, build_fleet
from simulator.grid import GridSignals, generate_grid
from simulator.physics import PhysicsParams
from simulator.window import SimWindow


@dataclass(frozen=True)
class RandomStreams:
    """One independent generator per concern, all spawned from the seed.

    Separate streams keep concerns from shifting each other: the fleet inventory stays the same
    whatever the window, and log draws never change the physics noise.
    """

    fleet: np.random.Generator
    grid: np.random.Generator
    faults: np.random.Generator
    physics: np.random.Generator
    logs: np.random.Generator

    @classmethod
    def from_seed(cls, seed: int) -> RandomStreams:
        children = np.random.SeedSequence(seed).spawn(5)
        return cls(*(np.random.default_rng(child) for child in children))


@dataclass(frozen=True)
class Scenario:
    fleet: Fleet
    window: SimWindow
    grid: GridSignals
    plan: FaultPlan
    params: PhysicsParams
    seed: int

    def streams(self) -> RandomStreams:
        """Fresh generators for this seed: each run of the scenario replays the same draws."""
        return RandomStreams.from_seed(self.seed)


def build_scenario(
    *,
    boxes: int,
    seed: int,
    window: SimWindow,
    simulator: SimulatorConfig | None = None,
    fleet_config: FleetConfig | None = None,
    fault_rate: float | None = None,
    transient_rate: float | None = None,
) -> Scenario:
    """Draw a scenario; rates default to the ``simulator:`` config section."""
    sim = simulator or SimulatorConfig()
    params = PhysicsParams.from_config(fleet_config or FleetConfig())
    rngs = RandomStreams.from_seed(seed)
    fleet = build_fleet(boxes, rngs.fleet, afrr_share=sim.afrr_share, idle_share=sim.idle_share, v2_share=sim.v2_share)
    grid = generate_grid(window, rngs.grid, params.nominal_hz)
    plan = plan_faults(
        fleet,
        window,
        grid,
        rngs.faults,
        fault_rate=sim.fault_rate if fault_rate is None else fault_rate,
        transient_rate=sim.transient_rate if transient_rate is None else transient_rate,
        params=params,
    )
    return Scenario(fleet, window, grid, plan, params, seed)

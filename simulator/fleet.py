"""The fleet inventory: which boxes exist, where they are, which service they run, what they speak."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# French administrative regions (short codes), where the sites are.
REGIONS = ("IDF", "ARA", "PACA", "OCC", "NAQ", "BRE", "HDF", "GES", "NOR", "PDL", "CVL", "BFC")
SERVICES = ("fcr", "afrr", "idle")
FCR, AFRR, IDLE = 0, 1, 2
BOXES_PER_SITE = 5
FW_V1 = ("1.4.2", "1.5.0")
FW_V2 = ("2.1.0", "2.2.1")


@dataclass(frozen=True)
class Fleet:
    """Per-box facts, index-aligned: box ``i`` is ``ids[i]``. Arrays are numpy, names are lists.

    ``heartbeat_phase_s`` is each box's own second within the hour at which it sends its heartbeat;
    ``uptime_at_start_s`` is its uptime at the start of the simulated window.
    """

    ids: list[str]
    sites: list[str]
    regions: list[str]
    service: np.ndarray  # int codes into SERVICES
    payload_version: np.ndarray  # 1 or 2
    fw_version: list[str]
    heartbeat_phase_s: np.ndarray
    uptime_at_start_s: np.ndarray
    disk_base_pct: np.ndarray
    temp_offset_c: np.ndarray  # site climate and enclosure differences
    afrr_gain: np.ndarray  # share of the TSO's aFRR request dispatched to this box

    def __len__(self) -> int:
        return len(self.ids)

    def service_name(self, box: int) -> str:
        return SERVICES[int(self.service[box])]

    def tags(self, box: int) -> dict[str, str]:
        """The InfluxDB tags of a box (DESIGN.md section 4)."""
        return {
            "jbox_id": self.ids[box],
            "site": self.sites[box],
            "region": self.regions[box],
            "service": self.service_name(box),
        }


def build_fleet(
    boxes: int,
    rng: np.random.Generator,
    *,
    afrr_share: float = 0.25,
    idle_share: float = 0.05,
    v2_share: float = 0.6,
) -> Fleet:
    """A fleet of ``boxes`` boxes; shares are exact up to rounding (``round(share * boxes)``)."""
    if boxes < 1:
        raise ValueError(f"boxes must be at least 1, got {boxes}")
    width = max(4, len(str(boxes)))
    ids = [f"jbox-{i + 1:0{width}d}" for i in range(boxes)]
    n_sites = -(-boxes // BOXES_PER_SITE)
    site_width = max(3, len(str(n_sites)))
    site_region = rng.integers(0, len(REGIONS), size=n_sites)
    # Neighbouring ids share a site, as boxes are commissioned site by site.
    site_of_box = np.arange(boxes) // BOXES_PER_SITE
    service = _shuffled_codes(boxes, [round(afrr_share * boxes), round(idle_share * boxes)], [AFRR, IDLE], FCR, rng)
    version = _shuffled_codes(boxes, [round(v2_share * boxes)], [2], 1, rng)
    fw_pick = rng.integers(0, 2, size=boxes)
    fw_version = [(FW_V2 if v == 2 else FW_V1)[k] for v, k in zip(version.tolist(), fw_pick.tolist(), strict=True)]
    return Fleet(
        ids=ids,
        sites=[f"site-{s + 1:0{site_width}d}" for s in site_of_box.tolist()],
        regions=[REGIONS[site_region[s]] for s in site_of_box.tolist()],
        service=service,
        payload_version=version,
        fw_version=fw_version,
        heartbeat_phase_s=rng.integers(0, 3600, size=boxes),
        # Boxes last rebooted between a day and ~4 months before the simulated window.
        uptime_at_start_s=rng.integers(86_400, 120 * 86_400, size=boxes),
        disk_base_pct=np.round(rng.uniform(15.0, 70.0, size=boxes), 1),
        temp_offset_c=rng.uniform(-1.5, 1.5, size=boxes),
        afrr_gain=rng.uniform(0.6, 1.0, size=boxes),
    )


def _shuffled_codes(n: int, counts: list[int], codes: list[int], rest: int, rng: np.random.Generator) -> np.ndarray:
    values = np.full(n, rest, dtype=np.int8)
    position = 0
    for count, code in zip(counts, codes, strict=True):
        count = min(count, n - position)
        values[position : position + count] = code
        position += count
    return rng.permutation(values)

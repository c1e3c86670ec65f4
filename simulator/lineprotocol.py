"""Line protocol for simulated steps: plain string formatting with per-box prefixes built once.

This is the hot path of a backfill (hundreds of thousands of lines a minute), so tags are escaped
once per box and each line is one f-string. Timestamps are in milliseconds (write with
``precision="ms"``).
"""

from __future__ import annotations

from simulator.engine import Heartbeats, Step
from simulator.fleet import Fleet
from simulator.logs import LEVELS, LogBatch
from storage.lineprotocol import encode_tags

_STRING_ESCAPES = str.maketrans({'"': r"\"", "\\": "\\\\"})


class LineEncoder:
    """Encodes steps of one fleet into ``telemetry``, ``heartbeat`` and ``log`` lines."""

    def __init__(self, fleet: Fleet) -> None:
        tags = [encode_tags(fleet.tags(i)) for i in range(len(fleet))]
        self._telemetry = [f"telemetry{t} " for t in tags]
        self._heartbeat = [
            f'heartbeat{t} fw_version="{fw}",payload_version={version}i,'
            for t, fw, version in zip(tags, fleet.fw_version, fleet.payload_version.tolist(), strict=True)
        ]
        self._log = [
            [f"log{encode_tags({**fleet.tags(i), 'level': level})} " for level in LEVELS] for i in range(len(fleet))
        ]
        self._texts: dict[tuple[str, str], str] = {}

    def telemetry(self, step: Step) -> list[str]:
        prefixes = self._telemetry
        ts = step.t_ms
        freq = f"grid_freq_hz={step.freq_hz:.3f},"
        boxes = step.reporting.nonzero()[0].tolist()
        return [
            f"{prefixes[i]}{freq}p_meas_kw={p},p_setpoint_kw={sp},soc_pct={soc},temp_max_c={temp} {ts}"
            for i, p, sp, soc, temp in zip(
                boxes,
                step.p_meas_kw[boxes].tolist(),
                step.p_setpoint_kw[boxes].tolist(),
                step.soc_pct[boxes].tolist(),
                step.temp_max_c[boxes].tolist(),
                strict=True,
            )
        ]

    def heartbeats(self, beats: Heartbeats) -> list[str]:
        prefixes = self._heartbeat
        return [
            f"{prefixes[i]}uptime_s={up}i,disk_used_pct={disk} {t}"
            for i, t, up, disk in zip(
                beats.box.tolist(),
                beats.t_ms.tolist(),
                beats.uptime_s.tolist(),
                beats.disk_used_pct.tolist(),
                strict=True,
            )
        ]

    def logs(self, batch: LogBatch) -> list[str]:
        prefixes = self._log
        return [
            f"{prefixes[i][lvl]}{self._fields(code, message)} {t}"
            for i, lvl, t, code, message in zip(
                batch.box.tolist(),
                batch.level.tolist(),
                batch.t_ms.tolist(),
                batch.code,
                batch.message,
                strict=True,
            )
        ]

    def _fields(self, code: str, message: str) -> str:
        key = (code, message)
        text = self._texts.get(key)
        if text is None:
            text = f'code="{code.translate(_STRING_ESCAPES)}",message="{message.translate(_STRING_ESCAPES)}"'
            self._texts[key] = text
        return text

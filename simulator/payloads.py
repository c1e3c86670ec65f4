"""JSON payloads a JBOX pushes to the collector, one encoder per shape. The collector decodes these.

v1 boxes POST one flat sample per request to ``/v1/telemetry``::

    {"jbox_id": "jbox-0001", "ts": 1764430000.0, "kind": "telemetry", "p_kw": 512.3, "sp_kw": 500.0,
     "f_hz": 50.012, "soc": 51.2, "t_max": 31.0}
    {"jbox_id": "jbox-0001", "ts": 1764430000.0, "kind": "heartbeat", "uptime_s": 12345, "fw": "1.4.2",
     "disk_pct": 41.0}

v2 boxes POST a header and a batch of samples to ``/v2/telemetry`` (``heartbeat`` only when due)::

    {"header": {"jbox_id": "jbox-0002", "fw_version": "2.1.0", "sent_at": "2026-11-29T16:00:10.000Z",
                "seq": 17},
     "samples": [{"time": "2026-11-29T16:00:00.000Z", "p_meas_kw": 512.3, "p_setpoint_kw": 500.0,
                  "grid_freq_hz": 50.012, "soc_pct": 51.2, "temp_max_c": 31.0}],
     "heartbeat": {"time": "2026-11-29T16:00:07.000Z", "uptime_s": 12345, "disk_used_pct": 41.0}}

Any box POSTs its logs to ``/v1/logs``::

    {"jbox_id": "jbox-0001", "entries": [{"time": "2026-11-29T16:00:03.120Z", "level": "error",
                                          "code": "E042", "message": "Inverter communication timeout"}]}

Times are epoch seconds (v1 ``ts``) or RFC 3339 UTC with milliseconds and ``Z`` (everything else).
"""

from __future__ import annotations

from simulator.window import rfc3339

V1_TELEMETRY_PATH = "/v1/telemetry"
V2_TELEMETRY_PATH = "/v2/telemetry"
LOGS_PATH = "/v1/logs"


def _time(ms: int) -> str:
    return rfc3339(ms, always_ms=True)


def v1_telemetry(jbox_id: str, t_ms: int, *, p_kw: float, sp_kw: float, f_hz: float, soc: float, t_max: float) -> dict:
    """One v1 telemetry sample."""
    return {
        "jbox_id": jbox_id,
        "ts": t_ms / 1000.0,
        "kind": "telemetry",
        "p_kw": p_kw,
        "sp_kw": sp_kw,
        "f_hz": f_hz,
        "soc": soc,
        "t_max": t_max,
    }


def v1_heartbeat(jbox_id: str, t_ms: int, *, uptime_s: int, fw: str, disk_pct: float) -> dict:
    """One v1 heartbeat, sent to the same endpoint as telemetry, told apart by ``kind``."""
    return {
        "jbox_id": jbox_id,
        "ts": t_ms / 1000.0,
        "kind": "heartbeat",
        "uptime_s": uptime_s,
        "fw": fw,
        "disk_pct": disk_pct,
    }


def v2_sample(
    t_ms: int,
    *,
    p_meas_kw: float,
    p_setpoint_kw: float,
    grid_freq_hz: float,
    soc_pct: float,
    temp_max_c: float,
) -> dict:
    """One element of a v2 batch's ``samples``."""
    return {
        "time": _time(t_ms),
        "p_meas_kw": p_meas_kw,
        "p_setpoint_kw": p_setpoint_kw,
        "grid_freq_hz": grid_freq_hz,
        "soc_pct": soc_pct,
        "temp_max_c": temp_max_c,
    }


def v2_heartbeat(t_ms: int, *, uptime_s: int, disk_used_pct: float) -> dict:
    return {"time": _time(t_ms), "uptime_s": uptime_s, "disk_used_pct": disk_used_pct}


def v2_batch(
    jbox_id: str,
    fw_version: str,
    sent_at_ms: int,
    seq: int,
    samples: list[dict],
    heartbeat: dict | None = None,
) -> dict:
    """A v2 request body; ``seq`` counts the box's batches from 0 so the collector can spot gaps."""
    body: dict = {
        "header": {"jbox_id": jbox_id, "fw_version": fw_version, "sent_at": _time(sent_at_ms), "seq": seq},
        "samples": samples,
    }
    if heartbeat is not None:
        body["heartbeat"] = heartbeat
    return body


def log_entry(t_ms: int, level: str, code: str, message: str) -> dict:
    return {"time": _time(t_ms), "level": level, "code": code, "message": message}


def logs_batch(jbox_id: str, entries: list[dict]) -> dict:
    """A ``/v1/logs`` request body."""
    return {"jbox_id": jbox_id, "entries": entries}

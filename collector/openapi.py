"""OpenAPI 3.1 description of the collector's HTTP interface, served at ``/openapi.json``."""

from __future__ import annotations

_AUTH = [{"token": []}, {"bearer": []}, {"basic": []}]
_ERROR = {"$ref": "#/components/schemas/Error"}


def _json_write(summary: str, schema_ref: str) -> dict:
    return {
        "post": {
            "summary": summary,
            "security": _AUTH,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": schema_ref}}}},
            "responses": _responses(
                {
                    "202": {
                        "description": "durably accepted (fsync)",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}},
                    }
                }
            ),
        }
    }


def _line_protocol_write(summary: str, params: list[dict]) -> dict:
    return {
        "post": {
            "summary": summary,
            "security": _AUTH,
            "parameters": params,
            "requestBody": {"required": True, "content": {"text/plain": {"schema": {"type": "string"}}}},
            "responses": _responses({"204": {"description": "durably accepted (fsync)"}}),
        }
    }


def _responses(success: dict) -> dict:
    problems = {
        "400": "malformed body, or partial write: valid lines kept, first bad line named",
        "401": "missing, unknown, revoked or expired token",
        "403": "the data names another box than the token's",
        "410": "payload version retired (body names the replacement)",
        "413": "body too large",
        "415": "wrong content type",
        "429": "rate limited (Retry-After)",
        "503": "spool full (Retry-After)",
    }
    described = {
        code: {"description": text, "content": {"application/json": {"schema": _ERROR}}}
        for code, text in problems.items()
    }
    return success | described


_PRECISION = {"name": "precision", "in": "query", "schema": {"type": "string", "enum": ["ns", "us", "u", "ms", "s"]}}

OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "jboxmon collector", "version": "1"},
    "paths": {
        "/v1/telemetry": _json_write("One flat sample (legacy firmware)", "#/components/schemas/V1Sample"),
        "/v2/telemetry": _json_write("A header and a batch of samples", "#/components/schemas/V2Batch"),
        "/v1/logs": _json_write("Log entries", "#/components/schemas/Logs"),
        "/write": _line_protocol_write(
            "InfluxDB 1.x compatible write",
            [
                _PRECISION,
                {"name": "db", "in": "query", "schema": {"type": "string"}, "description": "ignored"},
                {"name": "u", "in": "query", "schema": {"type": "string"}},
                {"name": "p", "in": "query", "schema": {"type": "string"}, "description": "the box token"},
            ],
        ),
        "/api/v2/write": _line_protocol_write(
            "InfluxDB 2.x compatible write",
            [
                _PRECISION,
                {"name": "org", "in": "query", "schema": {"type": "string"}, "description": "ignored"},
                {"name": "bucket", "in": "query", "schema": {"type": "string"}, "description": "ignored"},
            ],
        ),
        "/health": {
            "get": {
                "summary": "Liveness and spool state",
                "responses": {"200": {"description": "ok"}, "503": {"description": "InfluxDB down"}},
            }
        },
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text format"}}}},
    },
    "components": {
        "securitySchemes": {
            "token": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "'Token <box token>' (InfluxDB convention)",
            },
            "bearer": {"type": "http", "scheme": "bearer"},
            "basic": {"type": "http", "scheme": "basic", "description": "password = box token"},
        },
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {"error": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}},
            },
            "Accepted": {"type": "object", "properties": {"accepted": {"type": "integer"}}},
            "V1Sample": {
                "type": "object",
                "required": ["ts"],
                "properties": {
                    "jbox_id": {"type": "string"},
                    "ts": {"type": "number"},
                    "kind": {"type": "string", "enum": ["telemetry", "heartbeat"]},
                    "p_kw": {"type": "number"},
                    "sp_kw": {"type": "number"},
                    "f_hz": {"type": "number"},
                    "soc": {"type": "number"},
                    "t_max": {"type": "number"},
                    "uptime_s": {"type": "integer"},
                    "fw": {"type": "string"},
                    "disk_pct": {"type": "number"},
                },
            },
            "V2Batch": {
                "type": "object",
                "required": ["header"],
                "properties": {
                    "header": {
                        "type": "object",
                        "properties": {
                            "jbox_id": {"type": "string"},
                            "fw_version": {"type": "string"},
                            "sent_at": {"type": "string"},
                            "seq": {"type": "integer"},
                        },
                    },
                    "samples": {"type": "array", "items": {"type": "object"}},
                    "heartbeat": {"type": "object"},
                },
            },
            "Logs": {
                "type": "object",
                "required": ["entries"],
                "properties": {
                    "jbox_id": {"type": "string"},
                    "entries": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "time": {"type": "string"},
                                "level": {"type": "string", "enum": ["debug", "info", "warning", "error", "critical"]},
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
    },
}

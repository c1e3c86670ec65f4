"""OpenAPI 3.1 description of the collector's HTTP interface, served at ``/openapi.json``.

The telemetry paths and their schemas come from the payload-version registry, so the document
lists exactly the versions the collector serves.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from collector import payloads
from collector.payloads import PayloadVersion, logs
from collector.problems import PROBLEMS

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
    # the failures come from the one exception -> status table, so the document cannot drift from it
    described = {
        str(problem.status): {"description": problem.description, "content": {"application/json": {"schema": _ERROR}}}
        for problem in sorted(PROBLEMS.values(), key=lambda problem: problem.status)
    }
    return success | described


_PRECISION = {"name": "precision", "in": "query", "schema": {"type": "string", "enum": ["ns", "us", "u", "ms", "s"]}}


@cache
def openapi() -> dict:
    """The collector's document (built once, on first use: no work at import time)."""
    return build_openapi(payloads.VERSIONS)


def build_openapi(registry: Mapping[str, PayloadVersion]) -> dict:
    """The document for the payload versions of ``registry``."""
    versions = registry.values()
    telemetry = {
        version.path: _json_write(version.summary, f"#/components/schemas/{version.schema_name}")
        for version in versions
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "jboxmon collector", "version": "1"},
        "paths": {
            **telemetry,
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
                    "responses": {
                        "200": {"description": "ok"},
                        "503": {"description": "InfluxDB down, or a background loop dead, failing or stuck (in loops)"},
                    },
                }
            },
            "/metrics": {
                "get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text format"}}}
            },
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
                    "properties": {
                        "error": {"type": "string"},
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                    },
                },
                "Accepted": {"type": "object", "properties": {"accepted": {"type": "integer"}}},
                **{version.schema_name: version.schema for version in versions},
                "Logs": logs.SCHEMA,
            },
        },
    }

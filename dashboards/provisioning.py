"""Grafana provisioning: the InfluxDB datasource (InfluxQL) and a file provider for the dashboards.

Grafana reads these YAML files from its ``provisioning/`` folder at start. Secrets are never
written: a ``{env: VAR}`` secret of the config becomes Grafana's ``$__env{VAR}``, a ``{file: PATH}``
secret ``$__file{PATH}``, which Grafana expands when it loads the file.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from config.fields import Secret
from config.model import InfluxDBConfig
from dashboards.panels import DATASOURCE_UID

FOLDER = "jboxmon"


def grafana_secret(secret: Secret) -> str:
    """A reference Grafana expands at load time; the value itself never reaches the file."""
    return f"$__env{{{secret.env}}}" if secret.env else f"$__file{{{secret.file}}}"


def datasource(influxdb: InfluxDBConfig) -> dict[str, Any]:
    """``provisioning/datasources/jboxmon.yaml``: InfluxDB with InfluxQL, as the config reaches it."""
    source: dict[str, Any] = {
        "access": "proxy",
        "editable": False,
        "jsonData": {
            "dbName": influxdb.database,
            "httpMode": "POST",  # long InfluxQL (the subqueries) does not fit a GET's URL
            "timeInterval": "10s",  # telemetry's finest period: $__interval never goes below it
            "tlsSkipVerify": influxdb.tls_verify is False,
            "version": "InfluxQL",
        },
        "name": "jboxmon InfluxDB",
        "type": "influxdb",
        "uid": DATASOURCE_UID,
        "url": influxdb.url,
    }
    secure: dict[str, str] = {}
    if influxdb.token is not None:
        # InfluxDB 2.x/3.x over InfluxQL: the v1 API takes the token in the Authorization header
        source["jsonData"]["httpHeaderName1"] = "Authorization"
        secure["httpHeaderValue1"] = "Token " + grafana_secret(influxdb.token)
    if isinstance(influxdb.tls_verify, Path):
        source["jsonData"]["tlsAuthWithCACert"] = True
        secure["tlsCACert"] = f"$__file{{{influxdb.tls_verify}}}"
    if influxdb.username:
        source["user"] = influxdb.username
    if influxdb.password is not None:
        secure["password"] = grafana_secret(influxdb.password)
    if secure:
        source["secureJsonData"] = secure
    return {"apiVersion": 1, "datasources": [source]}


def dashboard_provider(dashboards_path: PurePosixPath | str) -> dict[str, Any]:
    """``provisioning/dashboards/jboxmon.yaml``: Grafana loads every JSON file under ``dashboards_path``
    (the folder as Grafana's host sees it) and keeps them as provisioned, not editable in place."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "allowUiUpdates": False,
                "disableDeletion": True,
                "folder": FOLDER,
                "name": "jboxmon",
                "options": {"path": str(dashboards_path)},
                "type": "file",
                "updateIntervalSeconds": 60,
            }
        ],
    }

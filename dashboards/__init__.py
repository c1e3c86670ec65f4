"""Grafana as code: the fleet dashboard and the provisioning that points Grafana at InfluxDB.

``build(config, BuildOptions(out=Path("var/grafana")))`` writes everything; see :mod:`dashboards.build`.
"""

from dashboards.build import BuildOptions, build

__all__ = ["BuildOptions", "build"]

"""The fleet status page: the page an on-call operator opens first, without Grafana.

It answers two questions: is the monitoring itself working (each service's ``/health``), and what is
wrong in the fleet right now (boxes silent against the inventory, alerts firing from the alerting
service). A service-layer room: it imports config, storage and inventory only, and reaches the other
services over HTTP (``storage.http``), as an operator's browser would.

``StatusService`` (config -> refresher -> snapshot) and ``create_app`` (the HTML page and
``GET /api/v1/status``) are the two entry points; ``jboxmon status`` and ``jboxmon run`` serve them.
"""

from status.app import create_app
from status.service import StatusService

__all__ = ["StatusService", "create_app"]

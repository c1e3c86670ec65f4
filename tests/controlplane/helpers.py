"""Credentials for tests that call the control plane (alerting, rules, retention, status APIs).

Auth is on by default (``auth.mode: credentials``). A test about something else either gives its
requests a credential::

    from tests.controlplane.helpers import operator_headers
    headers = operator_headers(config.inventory.path)            # role admin
    http.request("POST", url + "/api/v2/silences", json=body, headers=headers)

or runs the services with auth off, which the config accepts on loopback only::

    from tests.controlplane.helpers import without_auth
    config = without_auth(config)

The ``operator_headers`` fixture of ``tests/conftest.py`` does the first for a config's inventory.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from config import JboxmonConfig
from config.auth import AuthConfig
from inventory.operators import OperatorStore

_names = itertools.count(1)


def issue_operator(inventory_path: Path | str, role: str = "admin", name: str | None = None) -> tuple[str, str]:
    """A new operator with ``role`` in the inventory at ``inventory_path``: (name, token)."""
    name = name or f"test-{role}-{next(_names)}"
    with OperatorStore(inventory_path) as store:
        return name, store.add(name, role)


def operator_headers(inventory_path: Path | str, role: str = "admin") -> dict[str, str]:
    """``{"Authorization": "Bearer <token>"}`` of a new operator with ``role``."""
    _, token = issue_operator(inventory_path, role)
    return {"Authorization": f"Bearer {token}"}


def without_auth(config: JboxmonConfig) -> JboxmonConfig:
    """``config`` with ``auth: {mode: none}`` (every listen address must be loopback)."""
    return config.model_copy(update={"auth": AuthConfig(mode="none")})

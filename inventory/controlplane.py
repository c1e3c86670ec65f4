"""What each control-plane service holds for its API: the access policy (with the operator store)
and the audit log, opened and closed with the service.

``service_token(name, role)`` issues a credential for a program of this installation (the rules
engine posting alerts to an alerting service in another process, the status page reading alerts):
the token lives only in this process's memory and is revoked at ``stop()``.
"""

from __future__ import annotations

import logging

from config import JboxmonConfig
from config.auth import open_listens
from inventory.access import AccessPolicy
from inventory.audit import AuditLog
from inventory.operators import OperatorStore

log = logging.getLogger(__name__)


class ControlPlane:
    def __init__(self, config: JboxmonConfig) -> None:
        # config check refuses this already; a --listen on the command line must not get around it
        self._open_listens = open_listens(config.auth, config.control_plane_listens())
        self.mode = config.auth.mode
        self.operators = OperatorStore.from_config(config.inventory)
        self.policy = AccessPolicy.from_config(config, self.operators)
        self.audit = AuditLog.from_config(config.inventory)
        self._open = False
        self._issued: list[str] = []

    def start(self) -> ControlPlane:
        if self._open_listens:
            (section, key), why = self._open_listens[0]
            raise RuntimeError(f"refusing to start: {section}.{key} {why}")
        if not self._open and self.mode != "none":  # auth off: the inventory is not even opened
            self.operators.open()
            self._open = True
        return self

    def stop(self) -> None:
        for token in self._issued:  # this process's service credentials die with it
            try:
                self.operators.revoke_token(token)
            except Exception:  # the inventory is away: the token is lost with this process anyway
                log.warning("could not revoke this process's service credential at stop", exc_info=True)
        self._issued.clear()
        self.operators.close()
        self.audit.close()
        self._open = False

    def service_token(self, name: str, role: str) -> str | None:
        """A fresh token for the service credential ``name`` (None when auth is off)."""
        if self.mode == "none":
            return None
        self.start()
        token = self.operators.issue_service(name, role)
        self._issued.append(token)
        self.audit.record("jboxmon", "local", "token.issue", name, role=role, service=True)
        return token

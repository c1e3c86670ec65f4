"""The ``auth:`` section: who may use the control plane (alerting, rules, retention and status APIs).

- ``credentials`` (the default): every request but ``/health`` names an operator with a token,
  as ``Authorization: Bearer <token>`` or Basic auth (user = operator name, password = token).
- ``none``: no credentials; accepted only when every control-plane service listens on loopback.
- ``trusted-proxy``: an authenticating proxy (oauth2-proxy, nginx auth_request...) names the user
  in ``trusted_proxy.user_header``, believed only from the addresses in ``trusted_proxy.proxies``.

Browser safety (Host, Origin, JSON content type for state changes) applies whatever the mode.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from config.fields import Duration, Strict

Role = Literal["viewer", "operator", "admin", "producer"]
_HOST = re.compile(r"^[A-Za-z0-9*]([A-Za-z0-9.\-*]*[A-Za-z0-9])?$")
_LOOPBACK_NAMES = {"localhost"}


class TrustedProxyConfig(Strict):
    """Where the authenticating proxy puts the user's name, and which addresses may say so."""

    user_header: str = "X-Forwarded-User"
    proxies: list[str] = []  # addresses or networks (10.0.0.0/8) of the proxies
    default_role: Role = "viewer"  # for a user the inventory does not list as an operator

    @field_validator("proxies")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"expected an IP address or network like '10.0.0.0/8', got {value!r}") from None
        return values


class AuthConfig(Strict):
    mode: Literal["credentials", "none", "trusted-proxy"] = "credentials"
    allowed_hosts: list[str] = []  # Host names accepted besides the defaults ('*.example.net' allowed)
    session_ttl: Duration = Field(12 * 3600, gt=0)  # a status page sign-in lasts this long
    trusted_proxy: TrustedProxyConfig = TrustedProxyConfig()

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _HOST.match(value):
                raise ValueError(f"expected a host name without scheme or port, got {value!r}")
        return values

    @model_validator(mode="after")
    def _proxy_addresses(self) -> AuthConfig:
        if self.mode == "trusted-proxy" and not self.trusted_proxy.proxies:
            raise ValueError(
                "mode 'trusted-proxy' needs trusted_proxy.proxies: the addresses whose user header is believed"
            )
        return self


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost; False for wildcards (0.0.0.0, ::) and anything else."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def open_listens(auth: AuthConfig, listens: dict[str, str]) -> list[tuple[tuple[str, ...], str]]:
    """Problems (key path, message) when auth is off and a control-plane service listens beyond loopback."""
    if auth.mode != "none":
        return []
    problems = []
    for section, listen in listens.items():
        host = listen.rsplit(":", 1)[0].strip("[]")
        if not is_loopback(host):
            problems.append(
                (
                    (section, "listen"),
                    f"listens on {listen!r} (beyond loopback) while auth.mode is 'none': anyone who reaches it "
                    "could silence alerts or reload; use auth.mode 'credentials' or 'trusted-proxy', or a "
                    "loopback address",
                )
            )
    return problems

"""The fleet inventory: every JBOX with its site, region and service, the site gateways that push
for several boxes, their hashed tokens, when they were registered and when last heard from.

It sits below the services: the collector authenticates against it (through the in-memory
``TokenCache``) and stamps tags from it, the rules engine knows which boxes should be reporting,
alerting and dashboards label boxes with it.

It also holds the control plane's people and programs: operators with a role and hashed tokens
(``inventory.operators``, never mixed with box tokens), the audit log (``inventory.audit``), and
the one access middleware every control-plane API uses (``inventory.access``).
"""

from inventory.cache import TokenCache
from inventory.database import InventoryUnavailable
from inventory.model import Box, Gateway, Principal
from inventory.registry import SERVICES, TOKEN_PREFIX, Credentials, Registry, RegistryError, hash_token

__all__ = [
    "SERVICES",
    "TOKEN_PREFIX",
    "Box",
    "Credentials",
    "Gateway",
    "InventoryUnavailable",
    "Principal",
    "Registry",
    "RegistryError",
    "TokenCache",
    "hash_token",
]

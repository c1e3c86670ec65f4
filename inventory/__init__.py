"""The fleet inventory: every JBOX with its site, region and service, its hashed tokens, when it was
registered and when it was last heard from.

It sits below the services: the collector authenticates against it and stamps tags from it, the
rules engine knows which boxes should be reporting, alerting and dashboards label boxes with it.
"""

from inventory.registry import SERVICES, TOKEN_PREFIX, Box, Registry, RegistryError, hash_token

__all__ = ["SERVICES", "TOKEN_PREFIX", "Box", "Registry", "RegistryError", "hash_token"]

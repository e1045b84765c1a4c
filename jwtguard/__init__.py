"""jwtguard: stateless JWT sessions that can still be revoked.

WSGI and ASGI middleware that verify ``Authorization: Bearer`` tokens with
PyJWT and check each user's revocation state (``destroyAnyJWTbefore``,
``user_enabled``) in MongoDB or an embedded SQLite file through a short-TTL
in-process cache. The names here are the whole user-facing API; the policy
(:mod:`jwtguard.sansio`) and the engine (:mod:`jwtguard.engine`) are for
extending jwtguard itself.
"""

from __future__ import annotations

from .admin import Admin, AsyncAdmin
from .asgi import JWTGuardASGI
from .config import Settings
from .errors import ConfigError, DPoPProofRefused, JWTGuardError, StoreError
from .stores import AsyncStore, Change, Store, open_async_store, open_store
from .stores.memory import AsyncMemoryStore, MemoryStore
from .tokens import issue_token
from .wsgi import JWTGuardWSGI

__version__ = "0.1.0"

__all__ = [
    "Admin",
    "AsyncAdmin",
    "AsyncMemoryStore",
    "AsyncStore",
    "Change",
    "ConfigError",
    "DPoPProofRefused",
    "JWTGuardASGI",
    "JWTGuardError",
    "JWTGuardWSGI",
    "MemoryStore",
    "Settings",
    "Store",
    "StoreError",
    "__version__",
    "issue_token",
    "open_async_store",
    "open_store",
]

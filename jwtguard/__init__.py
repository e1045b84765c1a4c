"""jwtguard: stateless JWT sessions that can still be revoked.

WSGI and ASGI middleware that verify ``Authorization: Bearer`` tokens with
PyJWT and check each user's revocation state (``destroyAnyJWTbefore``,
``user_enabled``) in MongoDB through a short-TTL in-process cache.
"""

from __future__ import annotations

from .admin import Admin, AsyncAdmin
from .asgi import JWTGuardASGI
from .config import Settings
from .core import Guard, Rejection, UserState, Verified
from .errors import ConfigError, JWTGuardError, StoreError
from .metrics import Metrics
from .tokens import issue_token
from .wsgi import JWTGuardWSGI

__version__ = "0.1.0"

__all__ = [
    "Admin",
    "AsyncAdmin",
    "ConfigError",
    "Guard",
    "JWTGuardASGI",
    "JWTGuardError",
    "JWTGuardWSGI",
    "Metrics",
    "Rejection",
    "Settings",
    "StoreError",
    "UserState",
    "Verified",
    "__version__",
    "issue_token",
]

"""The policy, without I/O: values in, values out (werkzeug's ``sansio`` is the model).

Nothing here holds a lock, a cache, a clock, a socket or a database handle:
every rule is a function of values, tested by tables without a server.

- :mod:`.request`: :class:`Request`, what an adapter reads from environ or scope;
- :mod:`.credentials`: the ``Authorization`` field (RFC 6750 §2.1, RFC 9110 §11.4);
  cookie mode's cookies, Fetch Metadata and CSRF checks, ``Set-Cookie`` values;
- :mod:`.claims`: verified tokens, time claims, frozen claims, the staleness rule;
- :mod:`.state`: a stored document -> :class:`UserState`;
- :mod:`.decision`: :class:`Decision` and the one table of :data:`REASONS`;
- :mod:`.policy`: :class:`Policy`, the rules in the order the engine applies them.

The engine (:mod:`jwtguard.engine`) owns the caches, keys, store, metrics and
logging, and runs these rules in one flow.
"""

from __future__ import annotations

from .claims import FrozenDict, Verified, freeze, is_stale
from .decision import REASONS, Decision, Reason
from .policy import Policy
from .request import Request, is_preflight
from .state import UserState, epoch_seconds, user_state

__all__ = [
    "REASONS",
    "Decision",
    "FrozenDict",
    "Policy",
    "Reason",
    "Request",
    "UserState",
    "Verified",
    "epoch_seconds",
    "freeze",
    "is_preflight",
    "is_stale",
    "user_state",
]

"""Sessions a person can see and end: logins, refresh rotation, per-device and per-token logout.

The rules are flows (:mod:`jwtguard.sessions.flows`) over jwtguard's records;
:class:`jwtguard.Admin` and :class:`jwtguard.AsyncAdmin` run them on the store
and sign the tokens. See the README's "Sessions" section.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .flows import SessionInfo as SessionInfo


class TokenPair(NamedTuple):
    """What a login or a refresh answers: an access token, its lifetime, and the next refresh token.

    ``jkt``: the thumbprint of the DPoP key the pair is bound to (RFC 9449 §6.1: the access
    token's ``cnf.jkt``; the refresh token needs a proof of that key), None for a Bearer pair.
    """

    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str
    user_id: str | int
    jkt: str | None = None

    def body(self, **extra: Any) -> dict[str, Any]:
        """The token endpoint's JSON answer (RFC 6749 §5.1), plus *extra* members.

        ``token_type`` is ``DPoP`` for a bound pair (RFC 9449 §5), else ``Bearer``. Send it
        with ``Cache-Control: no-store`` and ``Pragma: no-cache`` (RFC 6749 §5.1).
        """
        return {
            "access_token": self.access_token,
            "token_type": "Bearer" if self.jkt is None else "DPoP",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            **extra,
        }


#: Headers every token answer carries (RFC 6749 §5.1).
NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))

"""Exceptions for misconfiguration and broken infrastructure.

A bad token is never an exception out of jwtguard: the policy answers it with a
:class:`~jwtguard.sansio.Decision` value.
"""

from __future__ import annotations


class JWTGuardError(Exception):
    """Base class of every exception that jwtguard raises on purpose."""


class ConfigError(JWTGuardError, ValueError):
    """A setting is missing or has a value that jwtguard does not accept.

    The message names the environment variable and what it accepts; it never
    repeats a secret's value.
    """

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


class StoreError(JWTGuardError):
    """The revocation store could not be reached or did not answer in time."""


class InvalidGrant(JWTGuardError):
    """A refresh token that buys nothing: RFC 6749 §5.2 ``invalid_grant``.

    ``description`` is the ``error_description`` to send (fixed texts, never
    the token); ``body()`` the token endpoint's JSON answer (status 400).
    ``session_ended`` is true when presenting it ended its session (a reuse).
    """

    error = "invalid_grant"

    def __init__(self, description: str, *, session_ended: bool = False) -> None:
        super().__init__(description)
        self.description = description
        self.session_ended = session_ended

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class LoginRefused(JWTGuardError):
    """The store refuses a login: ``reason`` is ``unknown_user``, ``disabled`` or ``revoked``."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"login refused: {reason}")
        self.reason = reason


class DPoPProofRefused(JWTGuardError):
    """A token request's DPoP proof that binds nothing: answer 400 with :meth:`body` and :attr:`headers`.

    ``error`` is RFC 9449's code: ``invalid_dpop_proof`` (§7.1, §5) or ``use_dpop_nonce`` (§8),
    which comes with the nonce to use (``nonce``, sent as ``DPoP-Nonce``). ``description`` is a
    fixed text, safe to send: never the proof. Nothing was spent: the refresh token presented
    with the proof is as good as before, and its session lives on.
    """

    def __init__(self, error: str, description: str, *, nonce: str | None = None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.nonce = nonce

    def body(self) -> dict[str, str]:
        """The token endpoint's JSON answer (RFC 6749 §5.2, RFC 9449 §5), status 400."""
        return {"error": self.error, "error_description": self.description}

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """``DPoP-Nonce`` with the nonce to use for ``use_dpop_nonce`` (§8), else none."""
        return () if self.nonce is None else (("DPoP-Nonce", self.nonce),)

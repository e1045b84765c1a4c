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

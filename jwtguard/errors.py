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

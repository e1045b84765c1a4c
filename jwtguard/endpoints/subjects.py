"""Who a signal is about: subject identifiers (RFC 9493) resolved to the guard's user ids.

Logout tokens name a user by ``iss`` and ``sub``; security event tokens by a subject
identifier (``iss_sub``, ``email``, ``opaque``, ...); global token revocation by a
``sub_id``. A :data:`SubjectResolver` turns one into the user id the guard reads the state
of (the value of ``JWTGUARD_USER_CLAIM`` in that user's access tokens), or None when it names
nobody this app knows.

The default (:func:`default_resolver`) serves the common case, where access tokens carry the
provider's ``sub`` as the user claim: ``iss_sub`` of the configured issuer (``JWTGUARD_ISSUER``;
any issuer when it is unset; or the Shared Signals transmitter, ``JWTGUARD_SSF_ISSUER``, which
may name the provider's users under its own issuer) and ``opaque`` ids are the user id itself,
checked by ``JWTGUARD_USER_ID_TYPE`` before any query. An app that names its users otherwise
(e-mail addresses, its own ids) passes its own resolver to the endpoints; so does one that can
tell whose token a ``jwt_id`` subject (SSF 1.0 §3.5.1: ``iss`` and ``jti``) names. A ``complex``
subject (SSF 1.0 §3.3) is offered whole first, then by its ``user`` member.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from ..config import Settings
from ..userid import UserId, user_key


class Subject(NamedTuple):
    """A subject identifier: its ``format`` and its members (RFC 9493 §3), e.g. ``iss`` and ``sub``."""

    format: str
    members: Mapping[str, Any]


#: A subject to the user id the guard knows it by, or None.
SubjectResolver = Callable[[Subject], UserId | None]


def default_resolver(settings: Settings) -> SubjectResolver:
    """``iss_sub`` of ``JWTGUARD_ISSUER`` (or ``JWTGUARD_SSF_ISSUER``) and ``opaque`` ids, as the
    user id itself (see the module)."""
    issuers = {settings.issuer, settings.ssf_issuer} - {None}

    def resolve(subject: Subject) -> UserId | None:
        members = subject.members
        if subject.format == "iss_sub":
            if settings.issuer is not None and members.get("iss") not in issuers:
                return None
            value = members.get("sub")
        elif subject.format == "opaque":
            value = members.get("id")
        else:
            return None  # email, phone_number, account, jwt_id, complex...: only the app knows them
        key = user_key(value, settings.user_id_type, settings.max_user_id_length)
        if key is None:
            return None
        assert isinstance(value, (str, int))
        return value

    return resolve

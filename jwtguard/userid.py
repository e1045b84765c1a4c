"""The one user-id rule: a claim value -> the canonical id of its user -> what each store matches.

Every place that names a user goes through :func:`user_key`: the guard (its
state cache is keyed by the result), the admin API (it invalidates that key),
the CLI, ``explain`` and both stores (their filters and inserts are built from
it). Two spellings of one user therefore share one cache entry and one stored
document, and a claim that does not map under the declared type never reaches
a query.

``JWTGUARD_USER_ID_TYPE`` declares the mapping:

``auto`` (default)
    A string stays a string and an integer an integer: ``"42"`` and ``42`` are
    two users, as in MongoDB. A 24-digit hexadecimal string, in any case, names
    the ObjectId with those digits *or* the string of them in lower case (what
    ``str(ObjectId)`` gives). New documents get the claim's own type (the
    lower-case string for hex). Applications whose string ids are upper-case
    hex declare ``str``.
``str``
    Every id is a string, matched exactly (case kept, never an ObjectId); an
    integer claim maps to its decimal string.
``int``
    Every id is a 64-bit integer; a decimal string claim (``"42"``, ASCII
    digits, optional ``-``) maps to that integer.
``objectid``
    Every id is an ObjectId; a 24-hex string in any case maps to it and new
    documents get ObjectId ``_id``\\ s. The embedded store, which has no
    ObjectId type, stores its lower-case hex string.

Pure: no I/O, no settings object (the caller passes the two values it reads).
"""

from __future__ import annotations

import re
from typing import Final, Literal, NamedTuple, TypeGuard

UserId = str | int
UserIdType = Literal["auto", "str", "int", "objectid"]
USER_ID_TYPES: Final[tuple[UserIdType, ...]] = ("auto", "str", "int", "objectid")

#: What a canonical id is: ``hex`` is ``auto``'s "ObjectId or its lower-case string".
Kind = Literal["str", "int", "objectid", "hex"]

#: BSON stores 64-bit integers; anything larger cannot be a stored ``_id``.
_INT64 = 2**63
_HEX24 = re.compile(r"[0-9a-fA-F]{24}")
#: A decimal integer as text: what ``int`` maps, and what the CLI reads as an integer id.
DECIMAL = re.compile(r"-?[0-9]+")


class UserKey(NamedTuple):
    """The canonical id of one user: the state cache's key and the input of every store filter.

    ``value`` is a ``str`` for ``str``, ``objectid`` and ``hex`` (lower-case
    hex digits for the last two) and an ``int`` for ``int``. A tuple, so that
    hashing it (once per request, in the state cache) is C code.
    """

    kind: Kind
    value: str | int

    def describe(self) -> str:
        """For messages: ``'alice' (str)``, ``7 (int)``, ``ObjectId('…') (objectid)``."""
        if self.kind == "objectid":
            return f"ObjectId({self.value!r}) (objectid)"
        if self.kind == "hex":
            return f"{self.value!r} (ObjectId or lower-case hex string)"
        return f"{self.value!r} ({self.kind})"


def _plain_string(value: str, max_length: int | None) -> bool:
    return 0 < len(value) <= (max_length or len(value)) and value.isprintable()


def user_key(claim: object, id_type: UserIdType = "auto", max_length: int | None = None) -> UserKey | None:
    """The canonical id that *claim* names under *id_type*, or None when it names nobody.

    Only plain strings (printable, non-empty, at most *max_length*
    characters) and 64-bit integers are ids at all: never an object such as
    ``{"$ne": null}``, a list, a bool or a float. Under a declared type, a
    value that does not map (``"abc"`` for ``int``) is None too: the guard
    refuses it as ``invalid`` before any query.
    """
    if isinstance(claim, bool):
        return None
    if isinstance(claim, int):
        if not -_INT64 <= claim < _INT64:
            return None
        if id_type in ("auto", "int"):
            return UserKey("int", claim)
        if id_type == "str":
            return UserKey("str", str(claim))
        return None  # objectid: an integer is no ObjectId
    if not isinstance(claim, str) or not _plain_string(claim, max_length):
        return None
    if id_type == "str":
        return UserKey("str", claim)
    if id_type == "int":
        if not DECIMAL.fullmatch(claim):
            return None
        number = int(claim)
        return UserKey("int", number) if -_INT64 <= number < _INT64 else None
    hex24 = len(claim) == 24 and _HEX24.fullmatch(claim) is not None
    if id_type == "objectid":
        return UserKey("objectid", claim.lower()) if hex24 else None
    return UserKey("hex", claim.lower()) if hex24 else UserKey("str", claim)


def valid_user_id(user_id: object, max_length: int | None = None) -> TypeGuard[UserId]:
    """Whether *user_id* is an id at all (:func:`user_key` under ``auto``).

    Only plain strings (printable, non-empty, at most *max_length* characters)
    and 64-bit integers: never an object such as ``{"$ne": null}``, a list, a
    bool, or a float.
    """
    return user_key(user_id, "auto", max_length) is not None

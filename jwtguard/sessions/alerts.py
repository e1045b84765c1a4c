"""Login alerts: "new sign-in from …, not you?" and the link that ends every session.

After each :meth:`jwtguard.Admin.login` the app's ``on_login`` hook receives a
:class:`LoginAlert` (the user, the new session, the device description, and
a signed one-time "not me" link token when ``JWTGUARD_ALERT_SECRET`` is set),
and may mail or text it. The link's two steps:

* ``GET /account/not-me?t=…`` shows a confirmation page and changes nothing
  (mail scanners and link previewers fetch every link in a message);
* ``POST /account/not-me`` (:meth:`jwtguard.Admin.not_me`) ends every session
  of the user, raises the version, and the answer asks for a credential reset.

The link token is a JWS signed with ``JWTGUARD_ALERT_SECRET``, a key of its
own (never the token key, so a link is never an access token and an access
token never a link), with an audience of its own, valid 24 hours, and single
use: its id is spent by a unique insert, as a refresh token is.
"""

from __future__ import annotations

import secrets
from typing import Any, Final, NamedTuple

import jwt

from ..config import Settings
from ..sansio.state import is_id
from ..userid import UserId, valid_user_id

#: How long a "not me" link works.
LINK_LIFETIME: Final = 24 * 3600
#: The link token's audience: no access-token verifier accepts it, and it accepts no access token.
AUDIENCE: Final = "jwtguard:not-me"
#: Longest link token read (checked before any decoding).
MAX_LINK_LENGTH: Final = 2048


class LoginAlert(NamedTuple):
    """What the ``on_login`` hook receives after a login.

    ``not_me`` is the link token to put in ``/account/not-me?t=…`` (None
    without ``JWTGUARD_ALERT_SECRET``). Never log it: it ends every session.
    """

    user_id: UserId
    session_id: str
    description: str
    created: float
    not_me: str | None


class NotMeLink(NamedTuple):
    """A verified "not me" link: whose sessions it ends, the session it was sent for, its one-time id."""

    user_id: UserId
    session_id: str
    link_id: str
    expires: float


def not_me_token(settings: Settings, user_id: UserId, session_id: str, now: float) -> str | None:
    """The signed one-time link token for the login of *session_id*, or None without an alert secret."""
    if settings.alert_secret is None:
        return None
    claims = {
        "aud": AUDIENCE,
        "sub": str(user_id),
        "uid": user_id,
        "sid": session_id,
        "jti": secrets.token_urlsafe(16),
        "iat": int(now),
        "exp": int(now + LINK_LIFETIME),
    }
    return jwt.encode(claims, settings.alert_secret, algorithm="HS256")


def read_not_me(settings: Settings, token: object, now: float) -> NotMeLink | None:
    """The link *token* stands for, or None: not signed with the alert secret, expired, or not a link.

    Pure (no store): whether it was already used is the store's to say, at
    :meth:`jwtguard.Admin.not_me`.
    """
    if settings.alert_secret is None or not isinstance(token, str) or len(token) > MAX_LINK_LENGTH:
        return None
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.alert_secret,
            algorithms=["HS256"],
            audience=AUDIENCE,
            options={"require": ["exp", "jti", "sid", "uid"], "verify_exp": False},
        )
    except Exception:  # any failure of hostile input: no link
        return None
    user_id, session_id, link_id, expires = claims["uid"], claims["sid"], claims["jti"], claims["exp"]
    if not (valid_user_id(user_id) and is_id(session_id) and is_id(link_id)):
        return None
    if not isinstance(expires, int) or isinstance(expires, bool) or expires <= now:
        return None
    return NotMeLink(user_id, session_id, link_id, float(expires))

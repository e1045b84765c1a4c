"""``POST /global-token-revocation``: Global Token Revocation (draft-parecki-oauth-global-token-revocation-04).

What Okta Universal Logout and security tools call to log a person out of this app everywhere:
every access token of the user issued before the call dies, and with them every session of
jwtguard's (a session created before the user's cut-off is dead), within the propagation bound.

What the draft requires, and where (tests in ``tests/test_endpoints.py`` name them):

- the request is a POST of a JSON object whose ``sub_id`` is a subject identifier (RFC 9493:
  an object with a string ``format``), resolved by the endpoints' subject resolver
  (:mod:`jwtguard.endpoints.subjects`); anything else is ``400`` ``invalid_request``;
- the caller is authenticated (``JWTGUARD_ENDPOINT_CLIENTS`` with the grant ``gtr``, which is
  never implied; or the app's own authenticator: a Bearer token, ``private_key_jwt``): else
  ``401``, or ``403`` for a client without the grant;
- ``204`` once the cut-off is recorded. A user with no stored state is no reason for a 404
  (with ``JWTGUARD_UNKNOWN_USERS=allow`` that is the normal case, and a 404 that did nothing
  would leave a terminated employee's tokens alive): the cut-off creates the state;
- ``404`` only when the subject names no user at all (the resolver says so);
- ``422`` when the subject resolves to an id the guard cannot act on (not an id under
  ``JWTGUARD_USER_ID_TYPE``); ``503`` with ``Retry-After`` when the store cannot be written
  (the caller may retry; nothing was done).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping

from ..sessions import signals
from ..userid import user_key
from .base import (
    Answer,
    Call,
    Context,
    EndpointFlow,
    Forget,
    Records,
    StoreDown,
    answer,
    authenticate,
    oauth_error,
    unavailable,
)
from .subjects import Subject

PATH = "/global-token-revocation"
logger = logging.getLogger("jwtguard")


def read_subject(body: bytes) -> Subject | str:
    """The request's ``sub_id`` (RFC 9493), or why the body is refused."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return "the body is not JSON"
    if not isinstance(document, dict):
        return "the body must be a JSON object"
    sub_id = document.get("sub_id")
    if not isinstance(sub_id, dict):
        return "sub_id must be a subject identifier (an object)"
    format_ = sub_id.get("format")
    if not isinstance(format_, str) or not format_:
        return "sub_id needs a format"
    return Subject(format_, sub_id)


def global_revocation(call: Call, context: Context) -> EndpointFlow:
    """The flow of one global revocation request (see the module)."""
    settings = context.settings
    client = yield from authenticate(call, None, "gtr", settings)
    if isinstance(client, Answer):
        return client
    if call.media_type != "application/json":
        return oauth_error(400, "invalid_request", "the body must be application/json")
    subject = read_subject(call.body)
    if isinstance(subject, str):
        return oauth_error(400, "invalid_request", subject)
    user_id = context.resolve(subject)
    if user_id is None:
        return oauth_error(404, "invalid_request", "the subject names no user")
    key = user_key(user_id, settings.user_id_type, settings.max_user_id_length)
    if key is None:
        return oauth_error(422, "invalid_request", "the subject's user id is not usable here")
    issuer = _issuer(subject.members, settings.issuer)
    recorded = yield Records(
        signals.cut_off(
            issuer,
            user_id,
            context.now,
            unique=uuid.uuid4().hex,
            now=context.now,
            settings=settings,
            source=f"gtr:{client.id}",
        )
    )
    yield Forget(key)
    if isinstance(recorded, StoreDown):
        return unavailable(settings, "the store")
    logger.info("jwtguard: global token revocation by client %s: every token of user %r ended", client.id, user_id)
    return answer(204)


def _issuer(members: Mapping[str, object], configured: str | None) -> str:
    iss = members.get("iss")
    return iss if isinstance(iss, str) else configured or ""

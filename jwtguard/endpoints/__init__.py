"""HTTP endpoints jwtguard serves beside the middleware, each a small WSGI and ASGI app.

- :mod:`jwtguard.endpoints.jwks`: ``/.well-known/jwks.json``, jwtguard's public keys (issue 10).
- :mod:`jwtguard.endpoints.apps`: the standard endpoints of issue 12, :class:`EndpointsWSGI`
  and :class:`EndpointsASGI`: ``/oauth/revoke`` (RFC 7009), ``/oauth/introspect`` (RFC 7662),
  ``/oidc/backchannel-logout`` (OpenID Connect Back-Channel Logout 1.0),
  ``/global-token-revocation`` and ``/ssf/events`` (:mod:`jwtguard.endpoints.ssf`, OpenID Shared
  Signals 1.0, RFC 8935), with its RFC 8936 poll client (:mod:`jwtguard.endpoints.poll`,
  :class:`SSFPoller`); each endpoint's module lists the specification's rules it keeps.
"""

from __future__ import annotations

from .apps import ENDPOINTS as ENDPOINTS
from .apps import EndpointsASGI as EndpointsASGI
from .apps import EndpointsWSGI as EndpointsWSGI
from .base import Authenticator as Authenticator
from .base import BasicClients as BasicClients
from .base import Call as Call
from .base import Client as Client
from .clients import SignedClient as SignedClient
from .clients import SignedClients as SignedClients
from .clients import either as either
from .poll import SSFPoller as SSFPoller
from .subjects import Subject as Subject
from .subjects import SubjectResolver as SubjectResolver
from .subjects import default_resolver as default_resolver

"""DPoP (RFC 9449) in jwtguard's own sessions: the proof of a token request, checked and spent once.

A login or a refresh is a *token request* (RFC 9449 §5). When the client sends a DPoP proof with
it, jwtguard binds the session to the proof's key: every access token of the session carries
``"cnf": {"jkt": <thumbprint>}`` (§6.1), the session and its refresh tokens record the thumbprint,
and a refresh token of a bound session buys nothing without a proof of the same key (§5: the
public client's refresh token is bound to its key). Rotation stays as it is for the right key.

The pieces, one each for both admins and both example apps:

- :class:`TokenRequest`: what a proof must name, built from the request by :func:`token_request`;
- :func:`token_proof`: the pure checks of §4.3 for a token request (no ``ath``), the mode
  (``JWTGUARD_DPOP``), §4.3 #1 (one ``DPoP`` field) and server nonces (§8); its refusals are
  :class:`DPoPProofRefused`, with the §7.1 error and, for ``use_dpop_nonce``, a fresh nonce;
- the proof's single use: :func:`jwtguard.sessions.flows.spend_proof`, under the name the guard
  uses for resource requests (:func:`jwtguard.sansio.dpop.replay_name`): one proof is good once, anywhere.

The store's part (the spend, the binding) is in the flows: :func:`jwtguard.sessions.flows.login`
and :func:`~jwtguard.sessions.flows.refresh`.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from ..config import Settings
from ..errors import JWTGuardError
from ..sansio.dpop import INVALID_PROOF, USE_NONCE, Proof, ProofRefused, ProofRules
from ..sansio.policy import OFF, REQUIRE
from ..sansio.request import Request


class TokenRequest(NamedTuple):
    """A token request as its DPoP proof must name it (RFC 9449 §4.3 #8, #9).

    ``proofs``: every ``DPoP`` field value, in order (none: the client sent no proof);
    ``method``: the request's method; ``url``: the URL the client used, without the query.
    """

    proofs: tuple[str, ...]
    method: str
    url: str


def token_request(settings: Settings, request: Request) -> TokenRequest:
    """The :class:`TokenRequest` of a login's or a refresh's request, read with ``dpop=True``
    (:func:`jwtguard.wsgi.request_of`, :func:`jwtguard.asgi.request_of`).

    The URL is the guard's rule (:meth:`jwtguard.sansio.request.Request.url`):
    ``JWTGUARD_EXTERNAL_ORIGIN``, or the request's scheme and ``Host``, then the request target
    (the path as the client sent it, a mount prefix included).
    """
    return TokenRequest(request.dpop, request.method, request.url(settings.external_origin))


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


_REQUIRED: Final = "a DPoP proof is required (JWTGUARD_DPOP=require)"
_ONE_FIELD: Final = "exactly one DPoP field is allowed"
_NONCE: Final = "the authorization server requires a current nonce in the DPoP proof"


def token_proof(dpop: TokenRequest | None, *, settings: Settings, now: float) -> Proof | None:
    """The checked proof of a token request, or None when it binds nothing.

    None: *dpop* is None (the caller has no request: a script, a server-side login), the client
    sent no proof under ``JWTGUARD_DPOP=allow``, or DPoP is ``off`` (proofs are not read, as
    the guard reads none). Otherwise the request's one proof (§4.3 #1) passes every check of
    :func:`~jwtguard.sansio.dpop.check_proof` for a request without an access token (no
    ``ath``), with ``JWTGUARD_DPOP_ALGORITHMS``, ``JWTGUARD_DPOP_MAX_AGE`` and
    ``JWTGUARD_LEEWAY``, and under ``JWTGUARD_DPOP_NONCE=true`` a current nonce.

    Pure (no store, no clock): the proof's single use is the flows' (:func:`~jwtguard.sessions.flows.spend_proof`).

    :raises DPoPProofRefused: ``invalid_dpop_proof`` for no proof under ``require``, several
        ``DPoP`` fields, or a failed check; ``use_dpop_nonce`` with the current nonce.
    """
    if dpop is None or settings.dpop == OFF:
        return None
    proofs = dpop.proofs
    if not proofs:
        if settings.dpop == REQUIRE:
            raise DPoPProofRefused(INVALID_PROOF, _REQUIRED)
        return None
    # A WSGI server joins two fields with a comma, which no compact JWS holds.
    if len(proofs) != 1 or "," in proofs[0]:
        raise DPoPProofRefused(INVALID_PROOF, _ONE_FIELD)
    rules = ProofRules.of(settings)
    # §4.3 #12 is for resource requests: a token request's ath is not looked at.
    checked = rules.check(proofs[0], method=dpop.method, url=dpop.url, access_token=None, now=now)
    if isinstance(checked, ProofRefused):
        nonce = rules.nonce(now)
        if checked.error == USE_NONCE and nonce is not None:
            raise DPoPProofRefused(USE_NONCE, _NONCE, nonce=nonce)
        raise DPoPProofRefused(INVALID_PROOF, checked.description)
    return checked

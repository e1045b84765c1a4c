"""The RFC 8936 poll client: the app fetches security event tokens from the transmitter.

For a transmitter that delivers by poll (SSF 1.0 §6.1.2, ``urn:ietf:rfc:8936``), or an app that
cannot receive pushes. Each SET is taken exactly as a push to ``/ssf/events`` is
(:func:`jwtguard.endpoints.ssf.receive`: the same validation, mapping and idempotency), through
the endpoints' own driver, so its change reaches the guard as a push's does::

    endpoints = EndpointsWSGI(JWTGuardWSGI(app, settings=settings), settings=settings)
    poller = SSFPoller(endpoints)       # JWTGUARD_SSF_POLL_URL, JWTGUARD_SSF_POLL_AUTHORIZATION
    poller.start(interval=30)           # a daemon thread; or call poller.poll_once() yourself
    ...
    poller.stop()

    endpoints = EndpointsASGI(JWTGuardASGI(app, settings=settings), settings=settings)
    poller = SSFPoller(endpoints)
    task = asyncio.create_task(poller.run(interval=30))   # or: await poller.apoll_once()

What RFC 8936 requires, and where (``tests/test_ssf.py`` names them):

- §2.1, §2.4: a POST of a JSON object (``Content-Type`` and ``Accept`` ``application/json``, the
  ``Authorization`` of ``JWTGUARD_SSF_POLL_AUTHORIZATION``) with ``maxEvents``,
  ``returnImmediately: true`` (never a long poll: one round is bounded), ``ack`` and ``setErrs``.
- §2.5: the answer's ``sets`` maps each ``jti`` to a SET; each is validated (RFC 8417, SSF 1.0) and
  applied, then acknowledged in the next request (``ack``: its ``jti``); an invalid one is
  reported in ``setErrs`` with a registered ``err`` (§2.4.4, RFC 8935 §2.4) and not applied.
  ``moreAvailable`` asks for another request, within the round's bound.
- A SET the store or the key set cannot take now is neither acknowledged nor reported: the
  transmitter delivers it again (RFC 8936 §2.4: unacknowledged SETs are redelivered), and the
  round stops there. Acknowledgements that could not be sent are kept for the next round.

Bounds: at most *max_requests* requests per round (one more to send the last
acknowledgements), *max_events* SETs per request, each answer at most *max_events* SETs of
:data:`~jwtguard.endpoints.base.MAX_BODY` bytes, *timeout* seconds per request. Nothing it logs
names a token, a credential or the URL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import Counter
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from ..errors import ConfigError
from ..feed import stop_at_exit
from ..keys import describe_fetch, fetch_json
from ..sansio.state import is_id
from .base import MAX_BODY
from .ssf import Accepted, Received, SETError, Unavailable

if TYPE_CHECKING:
    from .apps import EndpointsASGI, EndpointsWSGI

logger = logging.getLogger("jwtguard")

#: The most SETs one request asks for, and the most requests one round makes (RFC 8936 leaves
#: both to the receiver).
MAX_EVENTS: Final = 1000
MAX_REQUESTS: Final = 100
#: Acknowledgements and errors kept for the next round when a request fails, at most: beyond,
#: the oldest are dropped (their SETs are delivered again, and taken again at no cost).
MAX_PENDING: Final = 10_000


class Post(NamedTuple):
    """Send one poll request: answered with the transmitter's JSON document, or :class:`PollFailed`."""

    body: Mapping[str, Any]


class Receive(NamedTuple):
    """Take one SET as a push is taken: answered with its :data:`~jwtguard.endpoints.ssf.Received`."""

    token: str


class PollFailed(NamedTuple):
    """The poll request failed: why (an HTTP status, "connection failed"), never the URL."""

    why: str


PollStep = Post | Receive
PollFlow = Generator[PollStep, Any, "PollReport"]


@dataclass
class PollReport:
    """What one round did: requests sent, SETs received, acknowledged, reported in ``setErrs``,
    left for redelivery; why it stopped early (a failed request, a store outage), or None."""

    requests: int = 0
    received: int = 0
    acknowledged: int = 0
    errors: int = 0
    deferred: int = 0
    failed: str | None = None


@dataclass
class PollState:
    """What the poller carries from one round to the next: acknowledgements and errors not sent yet."""

    ack: list[str] = field(default_factory=list)
    errors: dict[str, dict[str, str]] = field(default_factory=dict)

    def request(self, max_events: int) -> dict[str, Any]:
        """RFC 8936 §2.4's request: the pending ``ack`` and ``setErrs``, ``maxEvents``, never a long poll."""
        body: dict[str, Any] = {"returnImmediately": True, "maxEvents": max_events}
        if self.ack:
            body["ack"] = list(self.ack)
        if self.errors:
            body["setErrs"] = dict(self.errors)
        return body

    def sent(self, body: Mapping[str, Any]) -> None:
        """*body* reached the transmitter: what it acknowledged and reported is done."""
        acked = set(body.get("ack", ()))
        self.ack = [jti for jti in self.ack if jti not in acked]
        for jti in body.get("setErrs", {}):
            self.errors.pop(jti, None)

    def note(self, jti: str, received: Accepted | SETError) -> None:
        """Acknowledge a SET taken, report one refused (RFC 8936 §2.4.4), in the next request."""
        if isinstance(received, Accepted):
            self.ack.append(jti)
        else:
            self.errors[jti] = {"err": received.err, "description": received.description}
        del self.ack[:-MAX_PENDING]
        while len(self.errors) > MAX_PENDING:
            del self.errors[next(iter(self.errors))]


def read_sets(document: object, max_events: int) -> tuple[dict[str, object], bool] | str:
    """RFC 8936 §2.5: ``(sets by jti, moreAvailable)`` of a poll answer, or why it is unusable.

    At most *max_events* SETs are taken (the rest are not acknowledged: delivered again).
    """
    if not isinstance(document, dict) or not isinstance(document.get("sets"), dict):
        return "the answer has no sets object"
    sets: dict[str, object] = {}
    for jti, token in document["sets"].items():
        if len(sets) == max_events:
            break
        if is_id(jti):  # a name no ack could carry back is skipped
            sets[jti] = token
    return sets, document.get("moreAvailable") is True


def poll_flow(state: PollState, *, max_events: int, max_requests: int) -> PollFlow:
    """One round of polling as a flow: requests until the transmitter has nothing more (or the
    bound), each SET taken, the last acknowledgements sent. Pure: its drivers do the I/O."""
    report = PollReport()
    for _ in range(max_requests):
        body = state.request(max_events)
        document = yield Post(body)
        report.requests += 1
        if isinstance(document, PollFailed):
            report.failed = document.why
            return report
        state.sent(body)
        read = read_sets(document, max_events)
        if isinstance(read, str):
            report.failed = read
            return report
        sets, more = read
        report.received += len(sets)
        for index, (jti, token) in enumerate(sets.items()):
            if not isinstance(token, str) or not token or len(token) > MAX_BODY:
                received: Received = SETError("invalid_request", "the SET is no compact JWS of at most 64 KiB")
            else:
                received = yield Receive(token)
            if isinstance(received, Unavailable):
                # Neither acknowledged nor reported: the transmitter delivers it again.
                report.deferred += len(sets) - index
                report.failed = f"{received.what} is unavailable"
                break
            state.note(jti, received)
            if isinstance(received, Accepted):
                report.acknowledged += 1
            else:
                report.errors += 1
        if report.failed is not None or not sets or not more:
            break
    if state.ack or state.errors:
        # RFC 8936 §2.4.2: an acknowledgement-only request (maxEvents 0) sends the last ones.
        body = state.request(0)
        document = yield Post(body)
        report.requests += 1
        if isinstance(document, PollFailed):
            report.failed = report.failed or document.why
        else:
            state.sent(body)
    return report


class SSFPoller:
    """The RFC 8936 poll client of one endpoints app (see the module).

    :param endpoints: the :class:`~jwtguard.endpoints.apps.EndpointsWSGI` (then :meth:`poll_once`,
        :meth:`start`) or :class:`~jwtguard.endpoints.apps.EndpointsASGI` (then :meth:`apoll_once`,
        :meth:`run`, on the app's own event loop: its async store is bound to it) whose store,
        resolver and settings take the SETs.
    :param url: the poll endpoint (default ``JWTGUARD_SSF_POLL_URL``).
    :param authorization: the ``Authorization`` sent (default ``JWTGUARD_SSF_POLL_AUTHORIZATION``).
    :param max_events: SETs asked for per request (1 to :data:`MAX_EVENTS`, default 100).
    :param max_requests: requests per round (1 to :data:`MAX_REQUESTS`, default 10).
    :param timeout: seconds per request (default 10).

    ``counts`` adds up the rounds' reports (``requests``, ``received``, ``acknowledged``,
    ``errors``, ``deferred``, ``failures``); ``last_error`` is why the last round stopped early.
    """

    def __init__(
        self,
        endpoints: EndpointsWSGI | EndpointsASGI,
        /,
        *,
        url: str | None = None,
        authorization: str | None = None,
        max_events: int = 100,
        max_requests: int = 10,
        timeout: float = 10.0,
    ) -> None:
        settings = endpoints.settings
        self.endpoints = endpoints
        self.url = url or settings.ssf_poll_url
        if not self.url or not self.url.startswith(("https://", "http://")):
            raise ConfigError("JWTGUARD_SSF_POLL_URL", "required by the poll client: the transmitter's poll endpoint")
        self.authorization = authorization or settings.ssf_poll_authorization
        if not (isinstance(max_events, int) and 1 <= max_events <= MAX_EVENTS):
            raise ValueError(f"max_events accepts 1 to {MAX_EVENTS}")
        if not (isinstance(max_requests, int) and 1 <= max_requests <= MAX_REQUESTS):
            raise ValueError(f"max_requests accepts 1 to {MAX_REQUESTS}")
        if not 0 < timeout <= 300:
            raise ValueError("timeout accepts 0 to 300 seconds")
        self.max_events, self.max_requests, self.timeout = max_events, max_requests, timeout
        self.state = PollState()
        self.counts: Counter[str] = Counter()
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one round ----------------------------------------------------------------------------

    def poll_once(self) -> PollReport:
        """One round in this thread (an :class:`EndpointsWSGI`); rounds never overlap."""
        from .apps import EndpointsWSGI

        endpoints = self.endpoints
        if not isinstance(endpoints, EndpointsWSGI):
            raise TypeError("poll_once needs EndpointsWSGI; with EndpointsASGI, await apoll_once()")
        with self._lock:
            flow = self._flow()
            reply: Any = None
            try:
                while True:
                    step = flow.send(reply)
                    reply = self._post(step.body) if isinstance(step, Post) else endpoints.receive_set(step.token)
            except StopIteration as done:
                return self._report(done.value)

    async def apoll_once(self) -> PollReport:
        """One round without blocking the loop (an :class:`EndpointsASGI`): requests in a worker thread."""
        from .apps import EndpointsASGI

        endpoints = self.endpoints
        if not isinstance(endpoints, EndpointsASGI):
            raise TypeError("apoll_once needs EndpointsASGI; with EndpointsWSGI, call poll_once()")
        flow = self._flow()
        reply: Any = None
        try:
            while True:
                step = flow.send(reply)
                if isinstance(step, Post):
                    reply = await asyncio.to_thread(self._post, step.body)
                else:
                    reply = await endpoints.receive_set(step.token)
        except StopIteration as done:
            return self._report(done.value)

    def _flow(self) -> PollFlow:
        return poll_flow(self.state, max_events=self.max_events, max_requests=self.max_requests)

    def _post(self, body: Mapping[str, Any]) -> object:
        """The Post step: the answer's JSON, or :class:`PollFailed` (never raises)."""
        headers = {"Content-Type": "application/json"}
        if self.authorization:
            headers["Authorization"] = self.authorization
        assert self.url is not None
        limit = max(int(body.get("maxEvents", 0)), 1) * (MAX_BODY + 512) + 4096
        try:
            return fetch_json(
                self.url, timeout=self.timeout, limit=limit, body=json.dumps(body).encode(), headers=headers
            )
        except Exception as exc:
            return PollFailed(describe_fetch(exc))

    def _report(self, report: PollReport) -> PollReport:
        for name in ("requests", "received", "acknowledged", "errors", "deferred"):
            self.counts[name] += getattr(report, name)
        if report.failed is not None:
            self.counts["failures"] += 1
            if report.failed != self.last_error:
                logger.warning("jwtguard: the SSF poll stopped early (%s)", report.failed)
        elif self.last_error is not None:
            logger.warning("jwtguard: the SSF poll works again")
        self.last_error = report.failed
        if report.received:
            logger.info(
                "jwtguard: SSF poll: %d SETs, %d acknowledged, %d refused, %d deferred",
                report.received,
                report.acknowledged,
                report.errors,
                report.deferred,
            )
        return report

    # -- running ------------------------------------------------------------------------------

    def start(self, interval: float = 30.0) -> SSFPoller:
        """Poll every *interval* seconds (at least 1) in a daemon thread, until :meth:`stop`."""
        if interval < 1:
            raise ValueError("interval accepts at least 1 second")
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("the poller runs already")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(interval,), name="jwtguard-ssf-poll", daemon=True)
        stop_at_exit(self._stop, self._thread)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """End the thread :meth:`start` began, after its current round."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # a poller that dies silently would stop every signal
                logger.warning("jwtguard: an SSF poll round failed (%s)", type(exc).__name__)
            self._stop.wait(interval)

    async def run(self, interval: float = 30.0) -> None:
        """Poll every *interval* seconds (at least 1) on this loop, until the task is cancelled."""
        if interval < 1:
            raise ValueError("interval accepts at least 1 second")
        while True:
            try:
                await self.apoll_once()
            except Exception as exc:
                logger.warning("jwtguard: an SSF poll round failed (%s)", type(exc).__name__)
            await asyncio.sleep(interval)

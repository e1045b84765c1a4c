"""A raw keep-alive HTTP/1.1 client on sockets: enough of a client to keep one server core busy.

An httpx client spends more time per request than the servers measured here, so it would measure
itself (issue 11). This one sends a prebuilt request on a few keep-alive connections, one request
in flight per connection, and reads just enough of each answer to find its end (the status line
and ``Content-Length``). :func:`drive` runs it for a while; :class:`Connection` is also what the
propagation part watches servers with.

Run as ``python -m bench.client --cpu N`` it is a worker of the HTTP part: pinned to core N
(``os.sched_setaffinity``), it reads one JSON command per line on standard input
(``{"port", "request", "connections", "seconds", "warmup"}``), opens its connections and warms
them up, prints ``{"event": "go"}``, drives the server for the given seconds and prints
``{"event": "done", "requests", "errors", "elapsed"}``, so that the parent can read the server's
CPU time exactly around the timed window.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import selectors
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[^\r]*chunked", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)
#: A server that answers nothing for this long has hung: the run fails instead of waiting forever.
STALL_SECONDS = 10.0


def request_bytes(port: int, path: str = "/api/me", token: str | None = None) -> bytes:
    """A GET request for *path*, with the Bearer token when given (every server gets the same bytes)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Connection:
    """One keep-alive connection to a loopback server, non-blocking, answers parsed as they complete."""

    def __init__(self, port: int, *, timeout: float = 5.0) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self._buffer = bytearray()
        #: The server said ``Connection: close``: reconnect after the answer.
        self.closing = False
        #: Whatever the caller wants to remember about the request in flight.
        self.tag: object = None
        self.sent_at = 0.0

    def send(self, request: bytes) -> None:
        view = memoryview(request)
        while view:
            try:
                view = view[self.sock.send(view) :]
            except BlockingIOError:
                selectors.DefaultSelector().select(0.01)
        self.sent_at = time.monotonic()

    def receive(self) -> list[int]:
        """Read what is there; the statuses of the answers it completed (an error when the server closed)."""
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return []
        if not data:
            raise ConnectionError(f"the server on port {self.port} closed the connection")
        self._buffer += data
        statuses: list[int] = []
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self._buffer[: end + 2])
            length = _CONTENT_LENGTH.search(head)
            if length is None:
                if _CHUNKED.search(head):
                    raise ValueError("a chunked answer: the bench apps send Content-Length")
                size = 0
            else:
                size = int(length.group(1))
            total = end + 4 + size
            if len(self._buffer) < total:
                break
            del self._buffer[:total]
            statuses.append(int(head[9:12]))
            self.closing = self.closing or _CLOSE.search(head) is not None
        return statuses

    def close(self) -> None:
        self.sock.close()


@dataclass
class Driven:
    """What :func:`drive` did: answers completed in the window, those not 200, and the window's seconds."""

    requests: int
    errors: int
    elapsed: float
    statuses: Counter[int] = field(default_factory=Counter)


def drive(
    port: int,
    request: bytes,
    *,
    connections: int,
    seconds: float,
    warmup: int = 0,
    on_go: Callable[[], None] | None = None,
) -> Driven:
    """Send *request* on *connections* keep-alive connections, one in flight each, for *seconds*.

    First *warmup* answers are awaited (caches filled, connections accepted); then ``on_go()`` is
    called, if given, and the timed window starts.
    """
    selector = selectors.DefaultSelector()
    open_connections = [Connection(port) for _ in range(connections)]
    for connection in open_connections:
        selector.register(connection.sock, selectors.EVENT_READ, connection)
    try:
        _run(selector, request, open_connections, warmup=warmup, until=None, statuses=Counter())
        if on_go is not None:
            on_go()
        statuses: Counter[int] = Counter()
        start = time.perf_counter()
        _run(selector, request, open_connections, warmup=None, until=start + seconds, statuses=statuses)
        elapsed = time.perf_counter() - start
    finally:
        for connection in list(open_connections):
            selector.unregister(connection.sock)
            connection.close()
        selector.close()
    done = sum(statuses.values())
    return Driven(done, done - statuses[200], elapsed, statuses)


def _run(
    selector: selectors.BaseSelector,
    request: bytes,
    connections: list[Connection],
    *,
    warmup: int | None,
    until: float | None,
    statuses: Counter[int],
) -> None:
    """One phase: until *warmup* answers came back, or until the clock reads *until*; nothing left in flight."""
    for each in connections:
        each.send(request)
    in_flight = len(connections)
    answered = 0
    clock = time.perf_counter
    sending = True
    while in_flight:
        events = selector.select(STALL_SECONDS)
        if not events:
            raise TimeoutError(f"no answer from port {connections[0].port} in {STALL_SECONDS}s")
        for key, _ in events:
            connection: Connection = key.data
            for status in connection.receive():
                statuses[status] += 1
                answered += 1
                in_flight -= 1
                if warmup is not None:
                    sending = answered + in_flight < warmup
                elif until is not None:
                    sending = clock() < until
                if connection.closing:
                    connection = _reconnect(selector, connections, connection)
                if sending:
                    connection.send(request)
                    in_flight += 1


def _reconnect(selector: selectors.BaseSelector, connections: list[Connection], old: Connection) -> Connection:
    """A new connection in place of *old*, which the server is closing."""
    selector.unregister(old.sock)
    old.close()
    new = connections[connections.index(old)] = Connection(old.port)
    selector.register(new.sock, selectors.EVENT_READ, new)
    return new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the HTTP part's client worker (see the module docstring)")
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to that core")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    for line in sys.stdin:
        command = json.loads(line)

        def go() -> None:
            print(json.dumps({"event": "go"}), flush=True)

        result = drive(
            command["port"],
            command["request"].encode(),
            connections=command["connections"],
            seconds=command["seconds"],
            warmup=command["warmup"],
            on_go=go,
        )
        done = {"event": "done", "requests": result.requests, "errors": result.errors, "elapsed": result.elapsed}
        done["statuses"] = {str(code): count for code, count in result.statuses.items()}
        print(json.dumps(done), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

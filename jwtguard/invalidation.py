"""The invalidation bus: how a change to a user's state reaches the caches that hold it.

An engine subscribes its state cache; the admin API publishes the canonical
id (:class:`~jwtguard.userid.UserKey`) of every user it changes. Today the
bus is in-process: :data:`default_bus` is shared by every engine and admin
of the process unless one is given its own. The cross-process feed
(:mod:`jwtguard.feed`: another process's change) publishes here what it reads.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Hashable
from typing import Protocol


class Subscriber(Protocol):
    """Anything that can forget a key: a state cache."""

    def invalidate(self, key: Hashable, hold: float = 0.0) -> None: ...


class InvalidationBus:
    """Delivers each published key to every live subscriber, synchronously.

    Subscribers are held weakly: a dropped middleware's cache leaves the bus
    by itself. ``publish`` returns once every subscriber has forgotten the key,
    so a change made through the admin API applies in this process at once.
    """

    def __init__(self) -> None:
        self._subscribers: weakref.WeakSet[Subscriber] = weakref.WeakSet()
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber) -> None:
        """Deliver every later published key to *subscriber* while it lives."""
        with self._lock:
            self._subscribers.add(subscriber)

    def publish(self, key: Hashable, *, hold: float = 0.0) -> None:
        """Make every subscriber forget *key* (after a change to that user).

        *hold*: and cache no load of it for that many seconds (the feed's
        events come before the change they announce, see :mod:`jwtguard.feed`).
        """
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber.invalidate(key, hold) if hold else subscriber.invalidate(key)


#: The process's bus: engines subscribe to it and admins publish to it unless given another.
default_bus = InvalidationBus()


def invalidate_everywhere(key: Hashable) -> None:
    """Forget *key* in every cache subscribed to :data:`default_bus` (after an admin change)."""
    default_bus.publish(key)

"""The real MongoDB-wire server the store tables run against: the tests' own (FerretDB or mongod).

``JWTGUARD_TEST_MONGO_URI`` names an external server, as for the tests; otherwise
:class:`tests/mongo_server.MongoServer <mongo_server.MongoServer>` starts mongod from PATH or the
FerretDB binary that ``scripts/get-ferretdb.sh`` builds (``make bench`` runs it), on a free
loopback port in a temporary directory, and stops it at the end.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymongo

# One way to start the server, the tests' (tests/ is not a package: its modules are top-level names).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from mongo_server import MongoServer


@dataclass
class Mongo:
    """A running server: ``uri(name)`` is a connection string for a database of that name on it."""

    base_uri: str
    kind: str

    def uri(self, database: str) -> str:
        head, _, tail = self.base_uri.partition("://")
        hosts, _, rest = tail.partition("/")
        query = rest.partition("?")[2]
        return f"{head}://{hosts}/{database}" + (f"?{query}" if query else "")

    def fresh(self, prefix: str) -> str:
        """A connection string for a new, empty database."""
        return self.uri(f"{prefix}_{uuid.uuid4().hex[:12]}")

    def version(self) -> str:
        """What the server says it is (FerretDB answers buildInfo with its own version too)."""
        client: pymongo.MongoClient[Any] = pymongo.MongoClient(self.base_uri, serverSelectionTimeoutMS=5000)
        try:
            info = client.admin.command("buildInfo")
        finally:
            client.close()
        ferret = info.get("ferretdbVersion")
        if ferret:
            return f"FerretDB {ferret} (MongoDB wire {info.get('version', '?')})"
        return f"{self.kind} {info.get('version', '?')}"


@contextlib.contextmanager
def mongo_server() -> Iterator[Mongo]:
    """JWTGUARD_TEST_MONGO_URI when set, else a server started for the benchmark (and stopped after)."""
    external = os.environ.get("JWTGUARD_TEST_MONGO_URI")
    if external:
        yield Mongo(external, "external server")
        return
    with tempfile.TemporaryDirectory(prefix="jwtguard-bench-") as directory:
        server = MongoServer(Path(directory))
        server.start()
        try:
            yield Mongo(server.uri("bench"), server.kind)
        finally:
            server.stop()

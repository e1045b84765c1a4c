from __future__ import annotations

from werkzeug.serving import run_simple

from . import create_app

run_simple("127.0.0.1", 8000, create_app())

"""python -m examples.flask_app [--port 8000]"""

from __future__ import annotations

import argparse

from werkzeug.serving import run_simple

from ..common import print_demo_users
from . import create_app

parser = argparse.ArgumentParser(description="The jwtguard Flask example")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8000)
args = parser.parse_args()
app = create_app()
print_demo_users(f"http://{args.host}:{args.port}")
run_simple(args.host, args.port, app, threaded=True)

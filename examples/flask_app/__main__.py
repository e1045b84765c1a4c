"""python -m examples.flask_app [--port 8000] [--cors-origin http://localhost:5173] [--cookies]"""

from __future__ import annotations

import argparse
import os

from werkzeug.serving import run_simple

from ..common import CrossOrigin, print_demo_users
from . import create_app

parser = argparse.ArgumentParser(description="The jwtguard Flask example")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8000)
parser.add_argument("--cors-origin", help="let a frontend served from this origin call the API (CORS)")
parser.add_argument(
    "--cookies", action="store_true", help="cookie mode: tokens in HttpOnly cookies (JWTGUARD_TOKEN_LOCATION=cookie)"
)
args = parser.parse_args()
if args.cookies:
    os.environ["JWTGUARD_TOKEN_LOCATION"] = "cookie"
app = create_app()
if args.cors_origin:
    app.wsgi_app = CrossOrigin(app.wsgi_app, args.cors_origin)  # type: ignore[method-assign]
print_demo_users(f"http://{args.host}:{args.port}")
run_simple(args.host, args.port, app, threaded=True)

"""python -m examples.starlette_app [--port 8001] [--cors-origin http://localhost:5173] [--cookies]"""

from __future__ import annotations

import argparse
import os
from typing import Any

import uvicorn
from starlette.middleware.cors import CORSMiddleware

from ..common import ALLOWED_HEADERS, EXPOSED_HEADERS, print_demo_users
from . import create_app

parser = argparse.ArgumentParser(description="The jwtguard Starlette example")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8001)
parser.add_argument("--cors-origin", help="let a frontend served from this origin call the API (CORS)")
parser.add_argument(
    "--cookies", action="store_true", help="cookie mode: tokens in HttpOnly cookies (JWTGUARD_TOKEN_LOCATION=cookie)"
)
args = parser.parse_args()
if args.cookies:
    os.environ["JWTGUARD_TOKEN_LOCATION"] = "cookie"
app: Any = create_app()
if args.cors_origin:
    # Outside the guard, so that its refusals carry CORS headers too (see examples/common.py).
    app = CORSMiddleware(
        app,
        allow_origins=[args.cors_origin],
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=list(ALLOWED_HEADERS),
        expose_headers=list(EXPOSED_HEADERS),
    )
print_demo_users(f"http://{args.host}:{args.port}")
uvicorn.run(app, host=args.host, port=args.port, log_level="warning")

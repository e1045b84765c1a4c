"""python -m examples.starlette_app [--port 8001]"""

from __future__ import annotations

import argparse

import uvicorn

from ..common import print_demo_users
from . import create_app

parser = argparse.ArgumentParser(description="The jwtguard Starlette example")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8001)
args = parser.parse_args()
app = create_app()
print_demo_users(f"http://{args.host}:{args.port}")
uvicorn.run(app, host=args.host, port=args.port, log_level="warning")

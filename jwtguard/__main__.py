"""``python -m jwtguard``: the same as the ``jwtguard`` command."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())

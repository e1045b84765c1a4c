"""The ``jwtguard`` command: admin operations on the configured store, from a terminal.

Settings come from the ``JWTGUARD_*`` variables, as for the middleware. Exit
codes: 0 done, 1 no such user (or an ``explain``ed token that would be
refused), 2 bad input or configuration, 3 the store cannot be reached.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

from .admin import Admin
from .config import Settings
from .core import Guard, UserState, Verified
from .errors import ConfigError, StoreError
from .stores import UserId

EXIT_OK, EXIT_NO_USER, EXIT_USAGE, EXIT_STORE = 0, 1, 2, 3

Command = Callable[[Admin, argparse.Namespace], int]


def _user(args: argparse.Namespace) -> UserId:
    if not args.int:
        return str(args.user)
    try:
        return int(args.user)
    except ValueError:
        raise ConfigError("USER", f"--int needs a whole number, got {args.user!r}") from None


def _changed(found: bool, user: UserId, done: str) -> int:
    if not found:
        print(f"jwtguard: no such user {user!r}", file=sys.stderr)
        return EXIT_NO_USER
    print(f"{user!r}: {done}")
    return EXIT_OK


def _logout_all(admin: Admin, args: argparse.Namespace) -> int:
    user = _user(args)
    return _changed(admin.logout_everywhere(user), user, "every token issued until now is refused")


def _disable(admin: Admin, args: argparse.Namespace) -> int:
    user = _user(args)
    return _changed(admin.disable_user(user), user, "disabled: every token is refused")


def _enable(admin: Admin, args: argparse.Namespace) -> int:
    user = _user(args)
    return _changed(admin.enable_user(user), user, "enabled")


def _create(admin: Admin, args: argparse.Namespace) -> int:
    user = _user(args)
    admin.create_user(user)
    print(f"{user!r}: known to the store")
    return EXIT_OK


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="milliseconds")


def describe_state(guard: Guard, user: UserId, state: UserState | None, now: float) -> list[str]:
    """What the guard would decide for a token of *user* issued now, and why."""
    fresh = Verified({}, user, now, now + 60, None)
    rejection = guard.decide(fresh, state)
    lines = [f"user:        {user!r}"]
    if state is None:
        lines.append("exists:      no")
    else:
        lines.append("exists:      yes")
        lines.append(f"enabled:     {'yes' if state.enabled else 'no'}")
        if state.malformed:
            lines.append("not before:  unreadable stored value (tokens refused)")
        elif state.not_before is None:
            lines.append("not before:  never set")
        else:
            lines.append(f"not before:  {_iso(state.not_before)} (tokens issued earlier are refused)")
    verdict = "accepted" if rejection is None else f"refused ({rejection.reason})"
    lines.append(f"new token:   {verdict}")
    return lines


def _status(admin: Admin, args: argparse.Namespace) -> int:
    user = _user(args)
    state = admin.status(user)
    print("\n".join(describe_state(Guard(admin.settings), user, state, time.time())))
    return EXIT_OK if state is not None else EXIT_NO_USER


def _issue(admin: Admin, args: argparse.Namespace) -> int:
    print(admin.issue_token(_user(args), ttl=args.ttl))
    return EXIT_OK


def _check_config(admin: Admin, args: argparse.Namespace) -> int:
    for name, value in admin.settings.describe().items():
        print(f"{name}={value}")
    admin.status("jwtguard-check-config")  # a real round trip to the store
    where = getattr(admin.store, "path", None)
    print(f"store: reachable{f' (SQLite file {where})' if where else ''}")
    return EXIT_OK


def _explain(admin: Admin, args: argparse.Namespace) -> int:
    from .explain import accepted, explain, format_report

    token = sys.stdin.read().strip() if args.token == "-" else args.token  # noqa: S105 - "-" means stdin
    rows = explain(token, admin.settings, admin.store)
    print(format_report(rows))
    return EXIT_OK if accepted(rows) else EXIT_NO_USER


#: name -> (help, takes a user, handler)
_COMMANDS: dict[str, tuple[str, bool, Command]] = {
    "logout-all": ("refuse every token issued to USER until now", True, _logout_all),
    "disable": ("refuse every token of USER until enabled again", True, _disable),
    "enable": ("accept USER's tokens again", True, _enable),
    "create": ("make USER known to the store (the embedded store keeps its own users)", True, _create),
    "status": ("what the guard would decide for USER, and why", True, _status),
    "issue": ("print a development token for USER", True, _issue),
    "check-config": ("print the effective settings (secrets masked) and reach the store", False, _check_config),
    "explain": ("each check the guard makes on TOKEN ('-' reads it from stdin)", False, _explain),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jwtguard", description="Revoke and inspect JWT sessions in the store that JWTGUARD_* names."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, takes_user, _) in _COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if takes_user:
            sub.add_argument("user", metavar="USER")
            sub.add_argument("--int", action="store_true", help="USER is an integer id, not a string")
        if name == "issue":
            sub.add_argument("--ttl", type=float, default=None, help="lifetime in seconds (JWTGUARD_TOKEN_TTL)")
        if name == "explain":
            sub.add_argument("token", metavar="TOKEN")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # A command's own output says what it did; start-up notes would only repeat it.
    logging.getLogger("jwtguard").setLevel(logging.ERROR)
    try:
        admin = Admin(Settings.from_env())
    except ConfigError as exc:
        print(f"jwtguard: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _COMMANDS[args.command][2](admin, args)
    except (ConfigError, ValueError) as exc:
        print(f"jwtguard: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as exc:
        print(f"jwtguard: the store cannot be reached: {exc}", file=sys.stderr)
        return EXIT_STORE
    finally:
        admin.close()


if __name__ == "__main__":
    sys.exit(main())

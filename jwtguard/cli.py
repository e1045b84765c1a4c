"""The ``jwtguard`` command: admin operations on the configured store, from a terminal.

Settings come from the ``JWTGUARD_*`` variables, as for the middleware, so the
command reaches the store a running server uses (with ``JWTGUARD_STORE_URL``
unset: ``jwtguard.db`` in the working directory). ``python -m jwtguard`` is the
same command. A ``JWTGUARD_*`` variable that is no setting (a misspelling) is
named on standard error by every command, with the nearest setting.

Exit codes: 0 done, 1 no such user (or an ``explain``ed token that would be
refused), 2 bad input or configuration (the message names the variable), 3 the
store cannot be reached.

The store commands (``logout-all``, ``disable``, ``enable``, ``create``,
``status``) read only the store's settings (issue 9: disabling a user must not
need ``JWTGUARD_SECRET``); ``issue``, ``explain`` and ``check-config`` read and
check every setting, keys included, as the middleware does. ``rotate-key``
reads every setting and opens no store (issue 10).

Adding a subcommand is one function ``(admin, args) -> exit code`` (or
``(settings, args)`` for one that needs no store) and one :class:`Command`
entry in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import secrets
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from . import keyring
from .admin import Admin, verified_token
from .config import MAX_KEYS, SETTINGS, Settings, unknown_variables
from .errors import ConfigError, StoreError
from .sansio.claims import Verified
from .sansio.policy import Policy
from .sansio.state import UserState
from .stores import Change, UserId
from .tokens import TokenVerifier
from .userid import DECIMAL, user_key

EXIT_OK, EXIT_NO_USER, EXIT_USAGE, EXIT_STORE = 0, 1, 2, 3


# -- arguments ---------------------------------------------------------------


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def _user_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("user", metavar="USER", help="the user id, as in the token's user claim")
    parser.add_argument("--int", action="store_true", help="USER is an integer id (default: a string)")


def _issue_arguments(parser: argparse.ArgumentParser) -> None:
    _user_argument(parser)
    parser.add_argument(
        "--ttl", type=_seconds, default=None, metavar="SECONDS", help="lifetime (default: JWTGUARD_TOKEN_TTL)"
    )


def _explain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("token", metavar="TOKEN", help="the token, or '-' to read it from standard input")


def _rotate_key_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--private-key-out",
        metavar="PATH",
        help="make a new PEM private key and write it to PATH (a new file, mode 0600) instead of an HMAC secret",
    )
    parser.add_argument(
        "--algorithm",
        metavar="ALG",
        help="the algorithm the new key is for (default: the first of JWTGUARD_ALGORITHMS that fits)",
    )


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number of seconds, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"a positive number of seconds, got {raw!r}")
    return value


def _user(admin: Admin, args: argparse.Namespace) -> UserId:
    """USER as the id type the token carries: a string, or with ``--int`` an integer.

    Under ``JWTGUARD_USER_ID_TYPE=int`` every id is an integer: a decimal USER
    is one without ``--int`` (issue 9).
    """
    integer = args.int or (admin.settings.user_id_type == "int" and DECIMAL.fullmatch(args.user) is not None)
    if not integer:
        return str(args.user)
    if not DECIMAL.fullmatch(args.user):
        raise ValueError(f"USER: --int needs a whole number, got {args.user!r}")
    return int(args.user)


def _integer_hint(admin: Admin, user: UserId) -> str:
    """issue 9: "no such user '42'" said nothing of ``--int``; the hint, when it may be the cause."""
    if isinstance(user, str) and DECIMAL.fullmatch(user) and admin.settings.user_id_type == "auto":
        return (
            f" (an integer id? add --int, or set JWTGUARD_USER_ID_TYPE=int: {user!r} and {user} are two users"
            " under auto)"
        )
    return ""


# -- output helpers ----------------------------------------------------------


def store_location(admin: Admin) -> str:
    """Where the store is, for messages: the SQLite file, or the URL with its password masked.

    Every message names it: a command run in the wrong directory would
    otherwise "succeed" on a file the server never reads.
    """
    path = _sqlite_path(admin)
    if path is not None:
        return f"SQLite file {path}" + ("" if os.path.exists(path) else " (does not exist)")
    return admin.settings.describe()["JWTGUARD_STORE_URL"]


def _sqlite_path(admin: Admin) -> str | None:
    path = getattr(admin.store, "path", None)
    return path if isinstance(path, str) else None


def _iso(seconds: float) -> str:
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="milliseconds")
    except (OverflowError, OSError, ValueError):
        # A stored number far outside datetime's years (another program wrote it).
        return f"{seconds:.6g} seconds from 1970-01-01T00:00:00Z (no calendar date)"


def describe_state(
    policy: Policy, user: UserId, state: UserState | None, now: float, *, records: bool = False
) -> list[str]:
    """What the guard would decide for a token of *user* issued *now*, and why.

    The user is shown as its canonical id (``JWTGUARD_USER_ID_TYPE``), the
    one the store matched. *records*: the store keeps cut-off records of its
    own (MongoDB), so the cut-off shown is the latest of the fields and them.
    """
    settings = policy.settings
    # A token the guard would read for this user, issued now (millisecond iat, as issue_token's).
    fresh = policy.verified(
        *policy.token_type.stamp({}, {settings.user_claim: user, "iat": float(now), "exp": now + 60})
    )
    decision = fresh if not isinstance(fresh, Verified) else policy.decide(fresh, state, now)
    fields = ", ".join(settings.not_before_fields)
    if records:
        fields += " and jwtguard's cut-off records"
    key = user_key(user, settings.user_id_type)
    shown = key.describe() if key is not None else f"{user!r} ({type(user).__name__})"
    lines = [f"user:        {shown}"]
    if state is None:
        lines.append("exists:      no (its tokens are refused: unknown_user)")
    else:
        lines.append("exists:      yes")
        enabled = "yes" if state.enabled else f"no ({settings.enabled_field} is not true)"
        lines.append(f"enabled:     {enabled}")
        if state.malformed:
            lines.append(f"not before:  unreadable stored value in {fields} (every token refused)")
        elif state.not_before is None:
            lines.append(f"not before:  never set ({fields})")
        else:
            lines.append(f"not before:  {_iso(state.not_before)} (latest of {fields}; older tokens are refused)")
        if not state.malformed:
            lines.append(f"version:     {state.version} (tokens with a lower `{settings.version_claim}` are refused)")
    verdict = "accepted" if decision.passes else f"refused ({decision.reason})"
    limit = settings.max_user_id_length
    if key is not None and not isinstance(fresh, Verified):
        # The guard refuses such a claim before any lookup, whatever the store says.
        verdict = f"refused (invalid: the id is longer than JWTGUARD_MAX_USER_ID_LENGTH={limit})"
    lines.append(f"new token:   {verdict}")
    return lines


def _changed(admin: Admin, found: bool, user: UserId, done: str) -> int:
    if not found:
        print(
            f"jwtguard: no such user {user!r} in the store ({store_location(admin)}){_integer_hint(admin, user)}",
            file=sys.stderr,
        )
        return EXIT_NO_USER
    print(f"{user!r}: {done} ({store_location(admin)})")
    return EXIT_OK


# -- commands ----------------------------------------------------------------


def _logout_all(admin: Admin, args: argparse.Namespace) -> int:
    user = _user(admin, args)
    return _changed(admin, admin.logout_everywhere(user), user, "every token issued until now is refused")


def _disable(admin: Admin, args: argparse.Namespace) -> int:
    user = _user(admin, args)
    return _changed(admin, admin.disable_user(user), user, "disabled: every token is refused")


def _enable(admin: Admin, args: argparse.Namespace) -> int:
    user = _user(admin, args)
    return _changed(admin, admin.enable_user(user), user, "enabled")


def _create(admin: Admin, args: argparse.Namespace) -> int:
    user = _user(admin, args)
    if admin.status(user) is not None:
        # Creating must never undo a disable or a logout: leave an existing user alone.
        print(f"{user!r}: already known to the store, left unchanged ({store_location(admin)})")
        return EXIT_OK
    # No fields set: a new user is enabled with no cut-off; an existing one
    # (created meanwhile, or a MongoDB document) keeps what it has.
    admin.store.apply(user, Change(create=True))
    print(f"{user!r}: created (enabled) ({store_location(admin)})")
    return EXIT_OK


def _status(admin: Admin, args: argparse.Namespace) -> int:
    user = _user(admin, args)
    state = admin.status(user)
    records = _sqlite_path(admin) is None  # MongoDB keeps jwtguard's cut-offs as records
    print("\n".join(describe_state(Policy(admin.settings), user, state, time.time(), records=records)))
    print(f"store:       {store_location(admin)}")
    if state is None and (hint := _integer_hint(admin, user)):
        print(f"jwtguard: no such user {user!r}{hint}", file=sys.stderr)
    return EXIT_OK if state is not None else EXIT_NO_USER


def _issue(admin: Admin, args: argparse.Namespace) -> int:
    # Admin.issue_token: on the embedded store a missing user is created (enabled), as at a login.
    print(admin.issue_token(_user(admin, args), ttl=args.ttl))
    return EXIT_OK


def _check_config(admin: Admin, args: argparse.Namespace) -> int:
    for name, value in admin.settings.describe().items():
        print(f"{name}={value}")
    # issue 9: the middleware's own key preparation (the one part of its engine that can refuse
    # settings): a weak or unusable public key, in any format PyJWT reads, fails with its ConfigError.
    TokenVerifier(admin.settings)
    path = _sqlite_path(admin)
    if path is not None and not os.path.exists(path):
        # Said, not created: a check run in the wrong directory must not leave a file behind.
        print(f"store: SQLite file {path} does not exist (nothing was created; the first write creates it)")
        return EXIT_OK
    admin.status(_PROBE[admin.settings.user_id_type])  # a real round trip: a user that need not exist
    print(f"store: reachable ({store_location(admin)})")
    return EXIT_OK


#: An id of each JWTGUARD_USER_ID_TYPE for check-config's round trip (a read; it need not exist).
_PROBE: dict[str, UserId] = {
    "auto": "jwtguard-check-config",
    "str": "jwtguard-check-config",
    "int": 0,
    "objectid": "0" * 24,
}


def _sessions(admin: Admin, args: argparse.Namespace) -> int:
    user = _user(admin, args)
    if admin.status(user) is None:
        return _changed(admin, False, user, "")
    listed = admin.sessions(user)
    for info in listed:
        shown = info.as_json()
        print(f"{info.sid}  created {shown['created']}  last used {shown['last_used']}  {info.description!r}")
    print(f"{user!r}: {len(listed)} live session(s) ({store_location(admin)})")
    return EXIT_OK


def _sid_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sid", metavar="SID", help="the session id (`jwtguard sessions USER` lists them)")


def _end_session(admin: Admin, args: argparse.Namespace) -> int:
    if not admin.end_session(args.sid):
        print(f"jwtguard: no such session {args.sid!r} in the store ({store_location(admin)})", file=sys.stderr)
        return EXIT_NO_USER
    print(f"session {args.sid!r}: ended; its refresh and access tokens are refused ({store_location(admin)})")
    return EXIT_OK


def _revoke(admin: Admin, args: argparse.Namespace) -> int:
    token = sys.stdin.read().strip() if args.token == "-" else args.token  # noqa: S105 - "-" means stdin
    verified = verified_token(admin.settings, token)  # ValueError (exit 2) names the problem, never the token
    if not admin.revoke_token(token):
        return _changed(admin, False, verified.user_id, "")
    until = _iso(verified.exp)
    print(
        f"token {verified.jti!r} of {verified.user_id!r}: refused until it expires ({until}) ({store_location(admin)})"
    )
    return EXIT_OK


def _explain(admin: Admin, args: argparse.Namespace) -> int:
    from .explain import accepted, explain, format_report

    token = sys.stdin.read().strip() if args.token == "-" else args.token  # noqa: S105 - "-" means stdin
    rows = explain(token, admin.settings, admin.store)
    print(format_report(rows))
    print(f"store: {store_location(admin)}")
    return EXIT_OK if accepted(rows) else EXIT_NO_USER


# -- rotate-key (issue 10) -----------------------------------------------------

ROTATE_KEY_DETAILS = """\
Rotating without logging anyone out takes three steps, because every process must verify
the new key before any process signs with it:
  1. add the new key LAST, everywhere: it verifies, the current first key still signs;
     restart every process (and let services that read jwtguard's JWKS see it);
  2. once every process verifies it, put it FIRST: it signs, the old keys still verify;
  3. after the longest lifetime of a token signed with the old key, drop the old key.
The command prints the new secret (or writes the new private key to PATH), the kids of the
configured keys and the three steps for this configuration; never a configured secret or
private key."""


def _rotate_key(settings: Settings, args: argparse.Namespace) -> int:
    """``jwtguard rotate-key``: a new signing key, and the overlap procedure for this configuration."""
    algorithm = args.algorithm
    if algorithm is not None and algorithm not in keyring.HMAC_SECRET_BYTES and algorithm not in _ASYMMETRIC:
        return _fail(f"--algorithm: not a signing algorithm: {algorithm!r} (e.g. HS256, ES256, RS256, EdDSA)", 2)
    if args.private_key_out is None:
        if algorithm is not None and algorithm not in keyring.HMAC_SECRET_BYTES:
            return _fail(f"--algorithm {algorithm} signs with a private key: add --private-key-out PATH", 2)
        hmac = [*settings.hmac_algorithms, *([algorithm] if algorithm else [])]
        if not hmac:
            return _fail(
                f"JWTGUARD_ALGORITHMS={','.join(settings.algorithms)} signs with no secret: "
                "make a new private key with --private-key-out PATH",
                2,
            )
        return _rotate_secret(settings, hmac)
    if algorithm is None:
        algorithm = next((name for name in settings.algorithms if name in _ASYMMETRIC), None)
        if algorithm is None:
            return _fail(
                f"JWTGUARD_ALGORITHMS={','.join(settings.algorithms)} has no asymmetric algorithm: "
                "name the new key's with --algorithm (e.g. ES256, RS256, EdDSA)",
                2,
            )
    elif algorithm in keyring.HMAC_SECRET_BYTES:
        return _fail(f"--algorithm {algorithm} signs with a secret: leave out --private-key-out", 2)
    return _rotate_private_key(settings, algorithm, args.private_key_out)


#: Every asymmetric algorithm PyJWT signs with.
_ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "ES256K", "EdDSA"}
)


def _rotate_secret(settings: Settings, algorithms: Sequence[str]) -> int:
    secret = keyring.new_secret(algorithms)
    kid = keyring.hmac_key_id(secret)
    current = [keyring.hmac_key_id(item) for item in settings.secrets]
    print(f"new secret for {', '.join(algorithms)}, kid {kid}:")
    print(secret)
    print()
    print(f"JWTGUARD_SECRET now: {_kids(current)}")
    for name in algorithms:
        if name not in settings.algorithms:
            print(f"note: {name} is not in JWTGUARD_ALGORITHMS: add it with step 1")
    if len(current) + 1 > MAX_KEYS:
        print(f"note: step 1 would list {len(current) + 1} secrets, over {MAX_KEYS}: drop the retired ones first")
    if not current:
        print("Set JWTGUARD_SECRET=<new> (the secret above) everywhere, then restart every process.")
        return EXIT_OK
    wait, why = _wait(settings)
    print("Rotate in three steps (<current> is JWTGUARD_SECRET as it is now, <new> the secret above):")
    print("  1. everywhere tokens are verified or issued, then restart every process:")
    print("       JWTGUARD_SECRET=<current>,<new>")
    print("     (the new secret verifies; the current first one still signs)")
    print("  2. once every process runs with step 1:")
    print("       JWTGUARD_SECRET=<new>,<current>")
    print(f"     (the new secret, kid {kid}, signs; tokens signed before still verify)")
    print(f"  3. {wait} after step 2 ({why}):")
    print("       JWTGUARD_SECRET=<new>")
    print("     (every token signed with an older secret has expired by then)")
    print("Keep the secret where JWTGUARD_SECRET is kept (a secret store, not a repository).")
    return EXIT_OK


def _rotate_private_key(settings: Settings, algorithm: str, path: str) -> int:
    key = keyring.new_private_key(algorithm)
    kid = keyring.key_id(key)
    try:
        # A new file only, readable by its owner alone: a key already there is never replaced.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _fail(f"--private-key-out: {path} exists; it is left as it is (choose a new file)", 2)
    except OSError as exc:
        return _fail(f"--private-key-out: cannot create {path}: {exc.strerror}", 2)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(keyring.private_pem(key))
    verifying = [key.kid for key in keyring.verification_keys(settings)]
    signing = keyring.private_key_ids(settings)
    print(f"new {algorithm} private key, kid {kid}, written to {path} (mode 0600); its public key:")
    print(keyring.public_pem(key), end="")
    print()
    print(f"JWTGUARD_PUBLIC_KEY now: {_kids(verifying, signs=False)}")
    print(f"JWTGUARD_PRIVATE_KEY now: {_kids([kid or '(unreadable)' for kid in signing])}")
    if signing and signing[0] is not None and verifying and signing[0] not in verifying:
        print(f"note: the signing key (kid {signing[0]}) is not in JWTGUARD_PUBLIC_KEY: the guard refuses its tokens")
    if algorithm not in settings.algorithms:
        print(f"note: {algorithm} is not in JWTGUARD_ALGORITHMS: add it before step 1")
    print("Rotate in three steps:")
    print("  1. everywhere tokens are verified: add the public key above AFTER the current ones in")
    print("     JWTGUARD_PUBLIC_KEY(_FILE) (a file holds several PEM blocks); restart every process, and wait")
    print("     out the max-age of jwtguard's /.well-known/jwks.json plus the cache lifespan of services reading it")
    print(f"  2. where tokens are issued: put {path} FIRST in JWTGUARD_PRIVATE_KEY(_FILE) (or alone); its")
    print(f"     key (kid {kid}) signs, tokens signed before still verify")
    wait, why = _wait(settings)
    print(f"  3. {wait} after step 2 ({why}): remove the old public and private keys")
    print(f"Keep {path} where JWTGUARD_PRIVATE_KEY_FILE is kept; never in a repository.")
    return EXIT_OK


def _kids(kids: Sequence[str], *, signs: bool = True) -> str:
    if not kids:
        return "(none)"
    shown = [f"kid {kid}" for kid in kids]
    if signs:
        shown[0] += " (signs)"
    return ", ".join(shown)


def _wait(settings: Settings) -> tuple[str, str]:
    """How long step 3 waits, and why: the longest lifetime of a token signed before step 2."""
    if settings.max_token_lifetime is not None:
        lifetime, why = settings.max_token_lifetime, "JWTGUARD_MAX_TOKEN_LIFETIME"
    else:
        lifetime, why = settings.token_ttl, "JWTGUARD_TOKEN_TTL; longer if your code passes a longer ttl="
    if settings.sessions and settings.refresh_ttl > lifetime:
        lifetime, why = settings.refresh_ttl, "JWTGUARD_REFRESH_TTL, the refresh tokens of sessions"
    if settings.leeway:
        lifetime, why = lifetime + settings.leeway, f"{why}, plus JWTGUARD_LEEWAY"
    return f"at least {lifetime:g} s", why


@dataclass(frozen=True)
class Command:
    """One subcommand: its help line, its arguments, and what it does."""

    help: str
    run: Callable[[Admin, argparse.Namespace], int] | None = None
    arguments: Callable[[argparse.ArgumentParser], None] = _user_argument
    #: Signs or verifies tokens: reads and checks the key settings. Else only the store's (issue 9).
    needs_keys: bool = False
    #: Instead of *run*, for a command that needs no store: it gets the settings, and no store is opened.
    offline: Callable[[Settings, argparse.Namespace], int] | None = None
    #: More of ``jwtguard COMMAND --help``, after the arguments.
    details: str | None = None


COMMANDS: dict[str, Command] = {
    "logout-all": Command("refuse every token issued to USER until now", _logout_all),
    "disable": Command("refuse every token of USER until enabled again", _disable),
    "enable": Command("accept USER's tokens again", _enable),
    "create": Command("make USER known to the store (the embedded store keeps its own users)", _create),
    "status": Command("what the guard would decide for USER, and why", _status),
    "issue": Command("print a development token for USER", _issue, _issue_arguments, needs_keys=True),
    "check-config": Command(
        "print the effective settings (secrets masked), build the guard's keys and reach the store",
        _check_config,
        _no_arguments,
        needs_keys=True,
    ),
    "explain": Command(
        "each check the guard makes on TOKEN ('-' reads it from stdin)", _explain, _explain_arguments, needs_keys=True
    ),
    "sessions": Command("list USER's live sessions (id, created, last used, device)", _sessions),
    "end-session": Command("end session SID: its refresh and access tokens are refused", _end_session, _sid_argument),
    "revoke": Command(
        "refuse this one access TOKEN until it expires ('-' reads it from stdin)",
        _revoke,
        _explain_arguments,
        needs_keys=True,
    ),
    "rotate-key": Command(
        "make a new signing key and print how to rotate to it without logging anyone out",
        arguments=_rotate_key_arguments,
        needs_keys=True,
        offline=_rotate_key,
        details=ROTATE_KEY_DETAILS,
    ),
}

#: What only signing and verifying read: the store commands neither need nor check them.
_KEY_SETTINGS = frozenset({"secret", "public_key", "private_key", "jwks_url", "algorithms"})
_KEY_VARIABLES = frozenset(
    variable for setting in SETTINGS if setting.name in _KEY_SETTINGS for variable in setting.variables
)


def store_settings(environ: Mapping[str, str]) -> Settings:
    """The settings of a store command: every ``JWTGUARD_*`` variable but the keys' (issue 9).

    ``jwtguard disable alice`` needed ``JWTGUARD_SECRET`` (and an RS256 setup a
    public key) only because :class:`Settings` requires a key for the
    algorithms, as the middleware must. A store command signs and verifies
    nothing, so it ignores ``JWTGUARD_SECRET``, ``JWTGUARD_PUBLIC_KEY(_FILE)``,
    ``JWTGUARD_PRIVATE_KEY(_FILE)``, ``JWTGUARD_JWKS_URL`` and
    ``JWTGUARD_ALGORITHMS``; the key that satisfies the validation is a random
    one, made here and never shown or used. The middleware's validation is
    unchanged, and ``check-config`` checks the keys.
    """
    environ = {name: value for name, value in environ.items() if name.upper() not in _KEY_VARIABLES}
    return Settings.from_env(environ, algorithms=("HS256",), secret=secrets.token_urlsafe(48))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jwtguard",
        description="Revoke and inspect JWT sessions in the store that the JWTGUARD_* variables name.",
        epilog="exit codes: 0 done, 1 no such user, 2 bad input or configuration, 3 store unreachable",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        command.arguments(
            commands.add_parser(
                name,
                help=command.help,
                description=command.help,
                epilog=command.details,
                formatter_class=argparse.RawDescriptionHelpFormatter,
            )
        )
    return parser


def _fail(message: str, code: int) -> int:
    print(f"jwtguard: {message}", file=sys.stderr)
    return code


def _unopenable(exc: Exception) -> int:
    """The store's client could not even be built (MongoDB only; SQLite opens on first use)."""
    from pymongo.errors import ConfigurationError, PyMongoError  # only MongoDB URLs get here

    if isinstance(exc, (ConfigurationError, ValueError)):
        # pymongo rejected the URL (or its DNS seed list); its text may quote the URL, password included.
        return _fail(f"configuration error: JWTGUARD_STORE_URL: not a usable MongoDB URL ({type(exc).__name__})", 2)
    if isinstance(exc, PyMongoError):
        return _fail(f"the store cannot be reached: MongoDB client failed ({type(exc).__name__})", EXIT_STORE)
    raise exc


#: The options of every subcommand: any other argument starting with "-" is a USER that needed "--".
_OPTIONS = frozenset({"-h", "--help", "--int", "--ttl", "--private-key-out", "--algorithm"})


def _dash_hint(argv: Sequence[str]) -> str | None:
    """issue 9: a user id starting with '-' needs '--' before it, and argparse does not say so."""
    for position, argument in enumerate(argv):
        if argument == "--":
            return None
        if argument.startswith("-") and argument.partition("=")[0] not in _OPTIONS and position > 0:
            command = argv[0]
            return f"jwtguard: a USER that starts with '-' goes after '--': jwtguard {command} -- {argument}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        if exc.code == EXIT_USAGE and (hint := _dash_hint(argv)) is not None:
            print(hint, file=sys.stderr)
        raise
    # A command's own output says what it did and where; the start-up notes
    # (the embedded store's path, unsafe policies) would only repeat it.
    jwtguard_logger = logging.getLogger("jwtguard")
    level = jwtguard_logger.level
    jwtguard_logger.setLevel(logging.ERROR)
    try:
        return _run(args)
    finally:
        jwtguard_logger.setLevel(level)


def _run(args: argparse.Namespace) -> int:
    # Said even though the start-up notes are silenced above: a misspelt variable changes
    # what a command acts on (JWTGUARD_STORE_ULR would point it at the embedded file).
    for note in unknown_variables(os.environ):
        print(note, file=sys.stderr)
    command = COMMANDS[args.command]
    try:
        settings = Settings.from_env() if command.needs_keys else store_settings(os.environ)
        admin = Admin(settings) if command.offline is None else None
    except ConfigError as exc:
        return _fail(f"configuration error: {exc}", EXIT_USAGE)
    except Exception as exc:
        return _unopenable(exc)
    if admin is None:
        assert command.offline is not None
        try:
            return command.offline(settings, args)
        except ValueError as exc:  # ConfigError included
            return _fail(str(exc), EXIT_USAGE)
    assert command.run is not None
    try:
        return command.run(admin, args)
    except ValueError as exc:  # ConfigError included
        return _fail(str(exc), EXIT_USAGE)
    except StoreError as exc:
        return _fail(f"the store cannot be reached: {exc}", EXIT_STORE)
    finally:
        admin.close()


if __name__ == "__main__":
    sys.exit(main())

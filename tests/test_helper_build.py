"""The browser helper's builds and types, and the editable install's output, without a browser.

issue 9 (smaller frictions): jwtguard.mjs is generated from jwtguard.js (scripts/build-helper-esm.py), the
types in jwtguard.d.ts name exactly what the JavaScript has, every static file ships in the wheel, and
`scripts/venv.sh` (what `make demo` runs first) installs without setuptools' warning box.
"""

from __future__ import annotations

import configparser
import fnmatch
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from jwtguard.sansio.decision import REASONS

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "jwtguard" / "static"
BUILD_SCRIPT = ROOT / "scripts" / "build-helper-esm.py"


def build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_helper_esm", BUILD_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def js_names() -> tuple[set[str], set[str], set[str]]:
    """What jwtguard.js really has: the exported names, the session's methods, the options it reads."""
    source = (STATIC / "jwtguard.js").read_text(encoding="utf-8")
    returned = re.findall(r"(\w+): \1", re.findall(r"^  return \{(.*)\};$", source, re.M)[-1])
    session = source[source.index("var session = {") : source.index("return session;")]
    methods = re.findall(r"^      (\w+): function", session, re.M)
    options = re.findall(r"\boptions\.(\w+)", source)
    return set(returned), set(methods), set(options)


def dts_block(text: str, interface: str) -> str:
    start = text.index(f"export interface {interface} {{")
    return text[start : text.index("\n}\n", start)]


def test_esm_build_is_generated_from_the_umd_source() -> None:
    """issue 9: jwtguard.mjs is what scripts/build-helper-esm.py makes of jwtguard.js today (no drift)."""
    check = subprocess.run([sys.executable, str(BUILD_SCRIPT), "--check"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    module = build_script()
    source = (STATIC / "jwtguard.js").read_text(encoding="utf-8")
    esm = module.render(source)
    assert esm == (STATIC / "jwtguard.mjs").read_text(encoding="utf-8")
    assert esm.rstrip().endswith("export { createSession, logoutReason };")
    assert "module.exports" not in esm and "root.JWTGuard" not in esm  # the UMD wrapper stays behind
    # A change to the shared source shows in the ES build; a changed API line or a lost marker stops it.
    assert "tabs = 2;" in module.render(
        source.replace("// --- shared source: end ---", "tabs = 2;\n  // --- shared source: end ---")
    )
    with pytest.raises(ValueError, match="are missing or out of order"):
        module.render(source.replace("// --- shared source: begin ---", ""))
    with pytest.raises(ValueError, match="same name"):
        module.render(source.replace("logoutReason: logoutReason", "reason: logoutReason"))


def test_type_declarations_name_what_the_javascript_has() -> None:
    """issue 9: every export, session method and option of jwtguard.js is declared in jwtguard.d.ts, and nothing
    more; jwtguard.d.mts gives the ES build the same types. issue 10: the logout reasons are the guard's own."""
    exported, methods, options = js_names()
    assert exported == {"createSession", "logoutReason"}
    assert {"token", "signedIn", "setToken", "setTokens", "refresh", "clear", "check", "fetch"} <= methods
    dts = (STATIC / "jwtguard.d.ts").read_text(encoding="utf-8")
    assert set(re.findall(r"^export function (\w+)\(", dts, re.M)) == exported
    assert set(re.findall(r"^  (\w+)\(", dts_block(dts, "Session"), re.M)) == methods
    assert set(re.findall(r"^  (\w+)\?:", dts_block(dts, "SessionOptions"), re.M)) == options
    union = re.search(r"^export type LogoutReason =\n((?:  \| .+\n)+)", dts, re.M)
    assert union is not None
    declared = set(re.findall(r'^  \| "(\w+)"$', union.group(1), re.M))
    source = (STATIC / "jwtguard.js").read_text(encoding="utf-8")
    # issue 10: the guard's reasons that end a session, and every reason the helper names itself.
    ended = re.search(r"^  var ENDED = \[(.*)\];$", source, re.M)
    assert ended is not None
    assert set(re.findall(r'"(\w+)"', ended.group(1))) == {"revoked", "disabled", "unknown_user", "session_revoked"}
    start = source.index("function logoutReason(")
    rule = source[start : source.index("\n  }\n", start)]
    named = set(re.findall(r'"(\w+)"', rule)) - {"string"}  # what the rule returns when the body is unreadable
    assert named == {"disabled", "unknown_user", "invalid_token"}
    assert '|| "invalid_grant"' in source  # a refused refresh
    # The guard's reasons a page meets (REASONS in jwtguard/sansio/decision.py): those that end the session,
    # "expired" (no refresh at hand) and "invalid"; the helper's own fallbacks.
    own = {"invalid_token", "invalid_grant", "dpop_key_lost"}  # issue 13: a DPoP token whose key is gone
    assert '"dpop_key_lost"' in source
    assert declared == named | set(re.findall(r'"(\w+)"', ended.group(1))) | {"expired", "invalid"} | own
    assert declared - own <= REASONS.keys()  # names the guard really sends
    assert "export as namespace JWTGuard;" in dts  # window.JWTGuard for <script> users
    assert 'export * from "./jwtguard.js";' in (STATIC / "jwtguard.d.mts").read_text(encoding="utf-8")


def test_every_static_file_ships_in_the_wheel() -> None:
    """issue 9: setup.cfg's package_data covers the new .mjs, .d.ts and .d.mts beside jwtguard.js."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    patterns = [p.strip() for p in config["options.package_data"]["jwtguard"].split(",")]
    shipped = sorted(p.name for p in STATIC.iterdir())
    assert {"jwtguard.js", "jwtguard.mjs", "jwtguard.d.ts", "jwtguard.d.mts"} <= set(shipped)
    for name in shipped:
        assert any(fnmatch.fnmatch(f"static/{name}", pattern) for pattern in patterns), name


@pytest.mark.slow
def test_editable_install_prints_no_setuptools_warning(tmp_path: Path) -> None:
    """issue 9: `make demo` printed setuptools' "Editable installation." warning box first (its import-finder
    strategy for an undeclared flat layout); with `package_dir = =.` the install is quiet. Runs what
    scripts/venv.sh runs, on a copy of the project, in a fresh virtualenv (the build backend comes from the
    package index, as for `make demo`)."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "jwtguard", project / "jwtguard", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    pip = [str(tmp_path / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # As scripts/venv.sh does: pip 26 shows the build backend's warnings, the pip that venv bundles may not.
    subprocess.run([*pip, "--upgrade", "pip"], check=True, capture_output=True, timeout=300, env=env)
    install = subprocess.run(
        [*pip, "--no-deps", "-e", str(project)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    output = install.stdout + install.stderr
    assert "Warning" not in output and "!!" not in output, output


def test_readme_names_only_python_for_the_demo() -> None:
    """issue 9: the README's prerequisites for `make demo` were Go and Chromium, which only `make test` needs."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## The two commands") : readme.index("| what | command |")]
    demo, test = section.split("`make test`", 1)
    assert "`make demo` needs only Python 3.10+" in demo
    assert "Go" not in demo and "Chromium" not in demo
    assert "Go" in test and "Chromium" in test


def test_dpop_reasons_are_the_guards_own() -> None:
    """issue 13: the DPoP refusals the helper answers itself (a retry with the nonce, a fresh proof) are the guard's
    error codes, and the two that say error="invalid_token" but end no session (BOUND) are the guard's reasons with
    that error: the helper logs out on neither, while every reason of ENDED still logs out."""
    source = (STATIC / "jwtguard.js").read_text(encoding="utf-8")
    bound = re.search(r"^  var BOUND = \[(.*)\];$", source, re.M)
    nonce = re.search(r'^  var NONCE_ERROR = "(\w+)";$', source, re.M)
    proof = re.search(r'^  var PROOF_ERROR = "(\w+)";$', source, re.M)
    assert bound is not None and nonce is not None and proof is not None
    assert {nonce.group(1), proof.group(1)} == {"use_dpop_nonce", "invalid_dpop_proof"}
    for code in (nonce.group(1), proof.group(1)):
        assert REASONS[code].error == code
    names = set(re.findall(r'"(\w+)"', bound.group(1)))
    assert names == {"dpop_binding", "dpop_required"}
    assert {REASONS[name].error for name in names} == {"invalid_token"}
    assert not any(REASONS[name].clears or REASONS[name].user_enabled is not None for name in names)
    dts = (STATIC / "jwtguard.d.ts").read_text(encoding="utf-8")
    for name in (*names, nonce.group(1), proof.group(1)):
        assert f"`{name}`" in dts  # the types say which refusals end no session
    assert "  dpop?: boolean;" in dts_block(dts, "SessionOptions")

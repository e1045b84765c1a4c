"""The distribution's name (issue 9 item 1): installing what the README says installs jwtguard."""

from __future__ import annotations

import configparser
import importlib.metadata
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Free on the package index when chosen (pip download / pip index versions / the JSON API: no such
#: project), and not confusable with the unrelated ``jwtguard`` once separators are removed.
DISTRIBUTION = "jwtguard-revocation"

#: The extras the README's Install section names (``fastapi`` comes with the optional routes work).
README_EXTRAS = {"flask", "starlette", "fastapi", "prometheus"}


def normalized(name: str) -> str:
    """PEP 503's normalisation, then without separators: how the index compares names."""
    return re.sub(r"[-_.]+", "", name).lower()


def metadata() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    return parser


def test_the_distribution_is_not_named_like_the_unrelated_jwtguard() -> None:
    """issue 9: the index's `jwtguard` (0.1.3) is someone else's package; ours must not share its name."""
    name = metadata()["metadata"]["name"]
    assert name == DISTRIBUTION
    assert normalized(name) != normalized("jwtguard")
    # The import name is unchanged: the package directory and the console script stay jwtguard.
    installed = importlib.metadata.distribution(DISTRIBUTION)
    assert installed.metadata["Name"] == DISTRIBUTION
    assert "jwtguard = jwtguard.cli:main" in metadata()["options.entry_points"]["console_scripts"]
    assert metadata()["options.packages.find"]["include"].split(",")[0].strip() == "jwtguard"


def test_extras_never_name_the_unrelated_project() -> None:
    """issue 9: an extra that requires `jwtguard[...]` would make pip fetch the unrelated package."""
    extras = metadata()["options.extras_require"]
    for extra, requirements in extras.items():
        for requirement in requirements.split("\n"):
            project = re.split(r"[\[<>=!~; ]", requirement.strip(), maxsplit=1)[0]
            assert normalized(project) != "jwtguard", (extra, requirement)


def test_every_readme_install_line_names_the_distribution() -> None:
    """issue 9: the README's install lines install this project, with extras that exist."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = re.findall(r"pip install ([^`\n]+)", readme)
    assert lines, "the README has an install line"
    declared = set(metadata()["options.extras_require"]) | {"fastapi"}
    for line in lines:
        match = re.match(r'"?([A-Za-z0-9_.-]+)(?:\[([a-z,]+)\])?"?', line.strip())
        assert match, line
        assert match.group(1) == DISTRIBUTION, line
        assert set((match.group(2) or "").split(",")) - {""} <= declared, line
    assert "## Install" in readme
    section = readme.split("## Install", 1)[1].split("\n## ", 1)[0]
    for extra in README_EXTRAS:
        assert f"`[{extra}]`" in section

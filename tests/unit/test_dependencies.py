"""What `make install` installs: lower bounds above known vulnerable releases in pyproject.toml,
and every dependency pinned in constraints.txt to a version those bounds allow, which the
Makefile's install step uses."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in [*project["dependencies"], *extras["dev"], *extras["spark"]]]


def _pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"constraints.txt pins exact versions, not {line!r}"
            pins[canonicalize_name(name)] = Version(version)
    return pins


def test_floors_shut_out_known_vulnerable_releases() -> None:
    by_name = {canonicalize_name(r.name): r for r in _requirements()}
    for name, vulnerable in [("jinja2", "3.1.5"), ("python-multipart", "0.0.17")]:
        spec = by_name[name].specifier
        assert not spec.contains(vulnerable), f"{name} {spec} still admits {vulnerable}"


def test_every_dependency_is_pinned_within_its_bounds() -> None:
    pins = _pins()
    for req in _requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not pinned in constraints.txt (make constraints)"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {req.name}=={pins[name]}, outside {req.specifier}: "
            "run `make constraints`"
        )


def test_make_install_installs_the_pinned_versions() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    install = re.search(r"^\$\(STAMP\):(.*?)\n\n", makefile, re.S | re.M)
    assert install and "constraints.txt" in install.group(1).splitlines()[0]
    assert "pip install -q -c constraints.txt -e '.[dev]'" in install.group(1)
    assert re.search(r"^constraints:", makefile, re.M), "a target to move the pins on purpose"

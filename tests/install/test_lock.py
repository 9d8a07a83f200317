"""The committed locks are what gets installed: they must cover every declared dependency within
its range, pin everything with hashes, and be what this environment runs."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.services import ROOT

PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$", re.M)


def locked(name: str) -> dict[str, str]:
    """Package → version pinned in requirements/<name>.lock (every pin carries a hash)."""
    text = (ROOT / "requirements" / f"{name}.lock").read_text(encoding="utf-8")
    blocks = re.split(r"\n(?=\S)", text)
    pins: dict[str, str] = {}
    for block in blocks:
        match = PIN.match(block)
        if match is None:
            continue
        assert "--hash=sha256:" in block, f"{name}.lock: {match.group(1)} has no hash"
        pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def declared(extras: tuple[str, ...]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    return [Requirement(r) for r in reqs]


def test_each_lock_covers_every_declared_dependency_within_its_range() -> None:
    for lock, extras in (("dev", ("dev", "postgres")), ("runtime", ("postgres",))):
        pins = locked(lock)
        for req in declared(extras):
            name = canonicalize_name(req.name)
            assert name in pins, f"{lock}.lock lacks {req.name}: run `make lock`"
            assert req.specifier.contains(pins[name], prereleases=True), (
                f"{lock}.lock pins {req.name}=={pins[name]} outside {req.specifier}: run `make lock`"
            )


def test_runtime_lock_agrees_with_the_dev_lock() -> None:
    dev, runtime = locked("dev"), locked("runtime")
    differ = {n: (v, dev.get(n)) for n, v in runtime.items() if dev.get(n) != v}
    assert not differ, f"runtime.lock and dev.lock disagree: {differ}"


def test_this_environment_runs_the_locked_versions() -> None:
    """`make test` installs the lock; a suite run on other versions proves nothing about it."""
    pins = locked("dev")
    for req in declared(("dev", "postgres")):
        name = canonicalize_name(req.name)
        installed = metadata.version(req.name)
        assert installed == pins[name], f"{req.name} {installed} is installed, the lock says {pins[name]}"


def test_lock_files_name_no_index_or_download_address() -> None:
    for path in Path(ROOT / "requirements").glob("*.lock"):
        text = path.read_text(encoding="utf-8")
        assert "://" not in text and "--index-url" not in text, path.name

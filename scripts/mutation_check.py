"""Prove that the tests which claim a delivery can fail: run the suite with `alerts.deliver.send`
broken, and require every test marked `delivers` to fail.

Usage: `python scripts/mutation_check.py [--only-marked] [PYTEST ARGS...]` (or `make mutation`).
The working tree is copied (tracked and untracked-but-not-ignored files) into a temporary
directory, `send` there is made to raise on entry, and pytest runs in the copy with the copy first
on PYTHONPATH, so the worker processes the tests start import the broken code too. Nothing in the
working tree changes. Prints `key: value` figures and exits 1 when a `delivers` test passed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTANT = '    raise RuntimeError("mutation check: alerts.deliver.send is broken on purpose")\n'
SEND_DEF = re.compile(r"^def send\(.*?\) -> SendOutcome:\n(    \"\"\".*?\"\"\"\n)", re.S | re.M)
RESULT = re.compile(r"^(PASSED|FAILED|ERROR) (\S+)", re.M)


def copy_tree(dest: Path) -> None:
    """Copy the files git knows (tracked, or untracked and not ignored) into `dest`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    for rel in filter(None, listed):
        source = ROOT / rel
        if source.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / rel)


def break_send(tree: Path) -> None:
    """Make `send` raise as its first statement."""
    path = tree / "alerts" / "deliver.py"
    text = path.read_text(encoding="utf-8")
    mutated, count = SEND_DEF.subn(lambda m: m.group(0) + MUTANT, text)
    if count != 1:
        raise SystemExit("mutation_check: cannot find `def send(...)` with a docstring in alerts/deliver.py")
    path.write_text(mutated, encoding="utf-8")


def collect(tree: Path, marker: str) -> set[str]:
    """Node ids of the tests carrying `marker`."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", marker, "-p", "no:cacheprovider"],
        cwd=tree, capture_output=True, text=True, env=_env(tree),
    ).stdout
    return {line.strip() for line in out.splitlines() if "::" in line}


def _env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only-marked", action="store_true", help="run only the `delivers` tests")
    args, pytest_args = parser.parse_known_args(argv)
    with tempfile.TemporaryDirectory(prefix="newswatch-mutant-") as tmp:
        tree = Path(tmp)
        copy_tree(tree)
        break_send(tree)
        claimed = collect(tree, "delivers")
        if not claimed:
            raise SystemExit("mutation_check: no test is marked `delivers`")
        selection = ["-m", "delivers"] if args.only_marked else []
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", *selection, *pytest_args],
            cwd=tree, capture_output=True, text=True, env=_env(tree),
        )
    outcomes = {node: kind for kind, node in RESULT.findall(run.stdout)}
    failed = {node for node, kind in outcomes.items() if kind in ("FAILED", "ERROR")}
    survivors = sorted(claimed - failed)
    print(f"mutation_tests_run: {len(outcomes)}")
    print(f"mutation_tests_failed: {len(failed)}")
    print(f"mutation_delivers_marked: {len(claimed)}")
    print(f"mutation_delivers_failed: {len(claimed & failed)}")
    print(f"mutation_unmarked_failed: {len(failed - claimed)}")
    for node in sorted(failed - claimed):
        print(f"  also failed (not marked delivers): {node}")
    for node in survivors:
        print(f"  SURVIVED (marked delivers, passed with send broken): {node}")
    return 1 if survivors or not outcomes else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

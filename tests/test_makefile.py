"""The Makefile picks the first Python 3.11 / 3.12 / 3.13 that runs (or PY=) and says which.

Run against fake interpreters in a temp folder that is the whole PATH: each prints the version
it claims, like ``python -c 'import sys; print(...)'`` would; a broken one is a pyenv-style shim
of a version that is not installed (it exits non-zero).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def fake_pythons(folder: Path, **versions: str | None) -> Path:
    """``python3_12="3.12.3"`` writes ``python3.12`` printing 3.12.3; None writes a broken shim."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, version in versions.items():
        exe = folder / name.replace("_", ".")
        body = (
            f"echo {version}"
            if version is not None
            else f"echo 'pyenv: {exe.name}: command not found' >&2; exit 127"
        )
        exe.write_text(f"#!/bin/sh\n{body}\n")
        exe.chmod(0o755)
    return folder


def make_print_python(path_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [MAKE, "-s", "--no-print-directory", "-C", str(REPO), "print-python", *args],
        env={"PATH": str(path_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_first_supported_python_that_runs_is_used_and_named(tmp_path):
    bin_dir = fake_pythons(tmp_path / "bin", python3_11=None, python3_12="3.12.3", python3_13="3.13.1")
    r = make_print_python(bin_dir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "using python3.12 (Python 3.12.3)"


def test_python_3_13_alone_is_enough(tmp_path):
    r = make_print_python(fake_pythons(tmp_path / "bin", python3_13="3.13.0"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "using python3.13 (Python 3.13.0)"


def test_python_3_11_comes_first_when_there(tmp_path):
    r = make_print_python(fake_pythons(tmp_path / "bin", python3_11="3.11.9", python3_13="3.13.0"))
    assert r.stdout.strip() == "using python3.11 (Python 3.11.9)"


def test_no_supported_python_is_one_clear_error(tmp_path):
    r = make_print_python(fake_pythons(tmp_path / "bin", python3_11=None, python3_10="3.10.12"))
    assert r.returncode != 0
    assert "error: none of python3.11 python3.12 python3.13 runs here" in r.stdout
    assert "PY=" in r.stdout


def test_py_overrides_the_search_and_is_checked(tmp_path):
    bin_dir = fake_pythons(tmp_path / "bin", python3_12="3.12.3", python3_10="3.10.12", mypy="3.13.2")
    r = make_print_python(bin_dir, f"PY={bin_dir / 'mypy'}")
    assert r.returncode == 0 and r.stdout.strip() == f"using {bin_dir / 'mypy'} (Python 3.13.2)"
    r = make_print_python(bin_dir, "PY=python3.10")
    assert r.returncode != 0 and "error: PY=python3.10 is Python 3.10.12; ferapp needs 3.11-3.13" in r.stdout
    r = make_print_python(bin_dir, "PY=python9")
    assert r.returncode != 0 and "error: PY=python9 does not run" in r.stdout

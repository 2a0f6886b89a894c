"""The Qt-free core, checked once statically and once at run time.

Static (the one boundary check): import-linter's contracts in pyproject.toml, run by ``make lint``
(so by CI), forbid the core from importing Qt or ``ferapp.gui``;
``test_every_core_module_is_under_the_contracts`` keeps their module lists complete as modules are
added. Run time: the commands that need no window load no Qt at all. import-linter cannot see that
(the CLI's lazy import of the GUI is on its ignore list, and a third-party import could pull Qt
in), so one child process runs each command in turn and lists the Qt modules loaded after each.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
import tomllib

import pytest

import ferapp
from tests.conftest import REPO

QT = ("PySide6", "shiboken6", "pyqtgraph", "superqt", "qtpy")
PROBE = f"""
import json, sys
from ferapp.cli import main
for args in json.loads(sys.argv[1]):
    try:
        code = main(args)
    except SystemExit as e:
        code = e.code
    qt = sorted(m for m in sys.modules if m.split('.')[0] in {QT!r})
    print(json.dumps({{"cmd": args[0], "code": code, "qt": qt}}), flush=True)
"""


@pytest.fixture(scope="module")
def fer_csv(tmp_path_factory):
    from tests._train_helpers import write_fer_csv

    return write_fer_csv(tmp_path_factory.mktemp("fer") / "fer2013.csv", per_class=4)


def test_commands_without_a_window_load_no_qt(tmp_path, fer_csv):
    commands = [
        ["models"],
        [
            "analyze",
            "demo",
            "--model",
            "cc_lenet5",
            "--max-frames",
            "3",
            "--quiet",
            "--out",
            str(tmp_path / "t.csv"),
        ],
        ["eval", "cc_lenet5", "--data", str(fer_csv)],
        [
            "train",
            "--model",
            "cc_lenet5",
            "--data",
            str(fer_csv),
            "--epochs",
            "1",
            "--quiet",
            "--out",
            str(tmp_path / "run"),
        ],
        ["gui", "--detector", "xyz"],
    ]  # a bad argument: refused before any window
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(REPO),
        "FERAPP_USER_MODELS_DIR": str(tmp_path / "um"),
        "FERAPP_RUNS_DIR": str(tmp_path / "runs"),
        "FERAPP_CACHE_DIR": str(tmp_path / "cache"),
    }
    p = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(commands)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    got = [json.loads(ln) for ln in p.stdout.splitlines() if ln.startswith('{"cmd"')]
    assert [g["cmd"] for g in got] == [c[0] for c in commands], p.stderr[-2000:]
    assert [g["code"] for g in got] == [0, 0, 0, 0, 2], p.stderr[-2000:]
    assert [g["qt"] for g in got] == [[]] * len(commands)


def test_every_core_module_is_under_the_contracts():
    """A new top-level module of ferapp is Qt-free unless the contracts say otherwise: every one but
    ``ferapp.gui`` (and ``__main__``, which only calls the CLI) is a source of both contracts."""
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    no_qt, no_gui = contracts[:2]  # (the third: the settings import no heavy library)
    assert set(no_qt["forbidden_modules"]) == set(QT) and no_gui["forbidden_modules"] == ["ferapp.gui"]
    core = {f"ferapp.{m.name}" for m in pkgutil.iter_modules(ferapp.__path__)} - {
        "ferapp.gui",
        "ferapp.__main__",
    }
    assert core - set(no_qt["source_modules"]) == set()
    assert core - set(no_gui["source_modules"]) == {"ferapp.cli"}  # its gui command, imported lazily

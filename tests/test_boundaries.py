"""The core is Qt-free and the commands that need no window load no Qt."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

PROBE = """
import json, sys
from ferapp.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "qt": sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph'))}))
"""


def _run(args, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO),
           "FERAPP_USER_MODELS_DIR": str(tmp_path / "um"), "FERAPP_RUNS_DIR": str(tmp_path / "runs"),
           "FERAPP_CACHE_DIR": str(tmp_path / "cache")}
    p = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=tmp_path,
                       env=env, timeout=600)
    last = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    assert last, p.stderr[-2000:]
    return json.loads(last[-1])


@pytest.fixture(scope="module")
def fer_csv(tmp_path_factory):
    from tests._train_helpers import write_fer_csv

    return write_fer_csv(tmp_path_factory.mktemp("fer") / "fer2013.csv", per_class=4)


@pytest.mark.parametrize("cmd", ["models", "analyze", "eval", "train", "gui-bad-arg"])
def test_commands_without_a_window_load_no_qt(cmd, tmp_path, fer_csv):
    args = {"models": ["models"],
            "analyze": ["analyze", "demo", "--model", "cc_lenet5", "--max-frames", "3", "--quiet",
                        "--out", str(tmp_path / "t.csv")],
            "eval": ["eval", "cc_lenet5", "--data", str(fer_csv)],
            "train": ["train", "--model", "cc_lenet5", "--data", str(fer_csv), "--epochs", "1", "--quiet",
                      "--out", str(tmp_path / "run")],
            "gui-bad-arg": ["gui", "--detector", "xyz"]}[cmd]
    r = _run(args, tmp_path)
    assert r["code"] == (2 if cmd == "gui-bad-arg" else 0)
    assert r["qt"] == []


def test_import_contracts_hold():
    """import-linter: the core never imports Qt; nothing but the CLI's gui command imports ferapp.gui;
    the settings (ferapp.config) import no heavy library."""
    lint = REPO / ".venv" / "bin" / "lint-imports"
    exe = str(lint) if lint.exists() else "lint-imports"
    p = subprocess.run([exe], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:]
    assert "3 kept, 0 broken" in p.stdout

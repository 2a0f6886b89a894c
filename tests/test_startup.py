"""Start-up cost: what a command loads before it answers.

`import torch` is 2.5-3 CPU-s on a 2-core laptop-class CPU, more than half of a one-frame
`ferapp analyze`: commands that only list, inspect or reject arguments must not pay it.
Each case runs in a fresh interpreter and reports ``sys.modules`` after ``ferapp.cli.main``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

_PROBE = """
import contextlib, io, json, sys
from ferapp.cli import main
out = []
for argv in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse's exits (--help, argument errors)
            code = e.code
    out.append({"argv": argv, "code": code, "torch": "torch" in sys.modules})
print(json.dumps(out))
"""


def _probe(cases: list[list[str]]) -> list[dict]:
    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(cases)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_listing_inspecting_and_argument_errors_import_no_torch(tmp_path):
    import cv2

    for cls in ("happy", "sad"):
        (tmp_path / "ds" / cls).mkdir(parents=True)
        for i in range(2):
            cv2.imwrite(str(tmp_path / "ds" / cls / f"{i}.png"), np.full((48, 48), 40 * i + 60, np.uint8))
    cases = [
        ["--help"],
        ["models"],
        ["models", "--json"],
        ["data", "inspect", str(tmp_path / "ds")],
        ["analyze"],  # missing source
        ["analyze", "demo", "--min-face", "-3"],
        ["analyze", "demo", "--no-such-flag"],
        ["gui", "--model", "no-such-model"],
        ["gui", "--detector", "no-such-detector"],
        ["--source", "demo", "--min-face", "0"],  # `ferapp` = the gui command
        ["train", "--model", "cc_lenet5"],  # --data missing
        ["eval", "--help"],
        ["bench", "--only"],  # value missing
    ]
    results = _probe(cases)
    assert [r["argv"] for r in results] == cases
    codes = {tuple(r["argv"]): r["code"] for r in results}
    assert codes[("models",)] == 0 and codes[("data", "inspect", str(tmp_path / "ds"))] == 0
    assert codes[("--help",)] == 0 and codes[("gui", "--model", "no-such-model")] == 2
    assert all(codes[tuple(c)] == 2 for c in cases[4:11]), codes
    loaded_torch = [r["argv"] for r in results if r["torch"]]
    assert loaded_torch == [], f"these imported torch: {loaded_torch}"


def test_models_lists_the_same_without_torch():
    """`ferapp models --json` (torch-free) lists what the loaded registry and store hold."""
    from ferapp.cli import main
    from ferapp.zoo import registry, store

    [r] = _probe([["models", "--json"]])
    assert r["code"] == 0 and not r["torch"]
    proc = subprocess.run([sys.executable, "-m", "ferapp", "models", "--json"], capture_output=True, text=True,
                          timeout=120)
    listed = json.loads(proc.stdout)
    registry._ensure_loaded()
    assert listed["architectures"] == sorted(n for n, fn in registry._ENTRYPOINTS.items()
                                             if fn.__module__.startswith("ferapp.zoo.models."))
    assert [m["name"] for m in listed["trained"]] == [e.name for e in store.list_trained_models()]
    assert listed["default"] == store.default_model_name()
    assert main(["models"]) == 0


def test_architectures_json_matches_the_registry():
    """architectures.json (what lists architectures without torch) is the registry's: regenerate
    it with `python -m ferapp.zoo.catalog` after adding or changing a model."""
    from ferapp.zoo.catalog import ARCHITECTURES_FILE, architecture_cfgs, registry_snapshot

    snap = registry_snapshot()
    assert json.loads(ARCHITECTURES_FILE.read_text(encoding="utf-8")) == json.loads(json.dumps(snap)), (
        "ferapp/zoo/architectures.json is stale: run `python -m ferapp.zoo.catalog`")
    from ferapp.zoo.registry import _CFGS

    assert {n: c for n, c in architecture_cfgs().items()} == {n: _CFGS[n] for n in snap}

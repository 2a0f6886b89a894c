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
import pytest

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
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(cases)], capture_output=True, text=True, timeout=300
    )
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


def test_first_frame_of_analyze_runs_without_torch(tmp_path):
    """A one-frame ``ferapp analyze`` on the CPU (the default model ships ``int8.onnx``) answers
    through onnxruntime: torch (2.5-3.5 CPU-s to import) is never loaded, and the result is there."""
    from ferapp.inference.device import torch_build_is_cpu_only

    out = tmp_path / "first.csv"
    device = [] if torch_build_is_cpu_only() else ["--device", "cpu"]  # the default where it is the CPU
    [r] = _probe([["analyze", "demo", "--max-frames", "1", "--quiet", *device, "--out", str(out)]])
    assert r["code"] == 0
    rows = out.read_text().splitlines()
    labels = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert len(rows) == 2 and rows[0].split(",")[10] == "label" and rows[1].split(",")[10] in labels
    assert not r["torch"], "the first frame imported torch"


def test_models_lists_the_same_without_torch(capsys):
    """`ferapp models` (torch-free: architectures.json) lists what the loaded registry and store
    hold: the same text (paper groups with their protocols, scores with their dataset and
    protocol) and the same JSON."""
    from ferapp.cli import main
    from ferapp.zoo import registry, store

    [r] = _probe([["models", "--json"]])
    assert r["code"] == 0 and not r["torch"]
    fresh = {}
    for argv in (["models", "--json"], ["models"]):
        proc = subprocess.run(
            [sys.executable, "-m", "ferapp", *argv], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        fresh[argv[-1]] = proc.stdout
    listed = json.loads(fresh["--json"])
    registry._ensure_loaded()
    assert listed["architectures"] == sorted(
        n for n, e in registry._MODELS.items() if e.fn.__module__.startswith("ferapp.zoo.models.")
    )
    assert [p["key"] for p in listed["papers"]] == [p.key for p in registry.list_papers()]
    assert [m["name"] for m in listed["trained"]] == [e.name for e in store.list_trained_models()]
    assert listed["default"] == store.default_model_name()
    capsys.readouterr()
    assert main(["models", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == listed
    assert main(["models"]) == 0
    assert capsys.readouterr().out == fresh["models"]


def test_architectures_json_matches_the_registry():
    """architectures.json (what lists architectures and papers without torch) is the registry's:
    regenerate it with `python -m ferapp.zoo.catalog` after adding or changing a model."""
    from ferapp.zoo.catalog import ARCHITECTURES_FILE, registry_snapshot, snapshot

    snap = registry_snapshot()
    assert json.loads(ARCHITECTURES_FILE.read_text(encoding="utf-8")) == json.loads(json.dumps(snap)), (
        "ferapp/zoo/architectures.json is stale: run `python -m ferapp.zoo.catalog`"
    )
    from ferapp.zoo.registry import _MODELS, list_papers

    cat = snapshot()
    assert cat.cfgs == {n: _MODELS[n].cfg for n in snap["architectures"]}
    assert list(cat.papers) == [p for p in list_papers() if p.key in {c.paper for c in cat.cfgs.values()}]


def test_the_registry_answers_once_its_model_modules_are_imported():
    """Before the model modules are imported, the registry answers from architectures.json plus
    what was registered at run time (a plugin's paper is listed, torch still not imported);
    once they are, the registry alone is the truth."""
    code = """
import json, sys
from ferapp.zoo import get_model_cfg, get_paper, list_models, list_papers, register_model, unregister_model
from ferapp.zoo.registry import ModelCfg, Paper

register_model(ModelCfg(name="plugin_net", input_size=(16, 16)), paper=Paper("P7", "a plugin", ("holdout-25",)))(
    lambda **kw: None)
out = {"before": {"models": list_models(), "papers": [p.key for p in list_papers()],
                  "paper": get_model_cfg("plugin_net").paper, "p7": get_paper("P7").title,
                  "torch": "torch" in sys.modules}}
import ferapp.zoo.models  # noqa: F401
unregister_model("cc_lenet5")  # the registry, not the file, is the truth from now on
out["after"] = {"models": list_models(), "papers": [p.key for p in list_papers()]}
print(json.dumps(out))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    before, after = out["before"], out["after"]
    assert not before["torch"] and before["paper"] == "P7" and before["p7"] == "a plugin"
    assert "plugin_net" in before["models"] and "cc_lenet5" in before["models"]
    assert before["papers"][:5] == ["P1", "P2", "P3", "P4", "P5"] and before["papers"][-1] == "P7"
    assert "plugin_net" in after["models"] and "cc_lenet5" not in after["models"]
    assert {"P1", "P5", "P7"} <= set(after["papers"])


_WINDOW_PROBE = """
import argparse, json, sys, time
from ferapp.gui_cli import add_gui_arguments
from ferapp.gui.app import open_window
from PySide6.QtCore import QTimer

args = add_gui_arguments(argparse.ArgumentParser()).parse_args(
    ["--source", "demo", "--detector", "hog", "--exit-after", "600"])  # scripted: no settings written
app, win, watch = open_window(args)
t0 = time.monotonic()
poll = QTimer()
poll.timeout.connect(lambda: (watch.first_result_s is not None or time.monotonic() - t0 > 240) and app.quit())
poll.start(50)
app.exec()
out = watch.figures()
out["loading_paints"] = win.video.paints
out["torch"] = "torch" in sys.modules
win.close()
from ferapp.gui.bridge import wait_for_jobs
wait_for_jobs()
if win.pipeline is not None:
    win.pipeline.close()
print(json.dumps(out))
"""


@pytest.mark.slow
@pytest.mark.gui
def test_window_paints_at_once_and_keeps_running_while_the_pipeline_builds(tmp_path):
    """A fresh process, as `ferapp` starts: the window paints before the pipeline is built and
    its event loop keeps running while torch, the model and the detector load (a 20 ms timer
    ticks at least half of the times that fit in the build); with the default model on the CPU
    (onnxruntime) torch is never loaded. It used to freeze for the whole
    build: dlib's HOG detector built twice and the landmark model loaded, each one C call
    holding the GIL, and torch's 430 MB library loaded under the import lock."""
    f = _window_figures(tmp_path, FERAPP_RUNTIME="torch")  # the long build: torch's networks
    assert f["first_result_s"] is not None and f["torch"], f
    assert f["first_paint_s"] < f["pipeline_ready_s"] <= f["first_result_s"], f
    assert f["build_expected_ticks"] >= 10, f  # the build is long enough to tell (torch alone: seconds)
    assert f["build_ticks"] >= 0.5 * f["build_expected_ticks"], f
    # the default: the model's int8.onnx in onnxruntime, and no torch in the window's process
    d = _window_figures(tmp_path)
    assert d["first_result_s"] is not None and not d["torch"], d
    assert d["first_paint_s"] < d["pipeline_ready_s"] <= d["first_result_s"], d


def _window_figures(tmp_path, **env_vars) -> dict:
    import os

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"), **env_vars)
    proc = subprocess.run(
        [sys.executable, "-c", _WINDOW_PROBE], capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_torch_libraries_preload_without_importing_torch():
    """preload_torch_libraries maps libtorch_cpu (the 430 MB library whose loading used to hold
    the GIL for seconds) without importing torch; torch then imports and works."""
    code = """
import sys
from ferapp.startup import preload_torch_libraries
ok = preload_torch_libraries()
maps = open('/proc/self/maps').read() if sys.platform.startswith('linux') else ''
print(ok, 'libtorch_cpu' in maps, 'torch' in sys.modules)
import torch
print(float(torch.ones(3).sum()), preload_torch_libraries())
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    first, second = proc.stdout.split("\n")[:2]
    if sys.platform.startswith("linux"):
        assert first == "True True False"
    assert second == "3.0 False"  # torch imported: nothing left to preload


@pytest.mark.gui
def test_video_shows_a_loading_state_while_the_pipeline_builds(qtbot, monkeypatch):
    """While the pipeline builds, the video area says what is loading and keeps repainting
    (clock and bar); the first frame replaces it; a failed build says why."""
    import threading

    from ferapp.gui.main_window import MainWindow
    from ferapp.inference import pipeline as pipeline_mod

    gate = threading.Event()
    real_init = pipeline_mod.Pipeline.__init__

    def held_init(self, *args, **kwargs):  # the build waits until the test has looked
        assert gate.wait(120)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(pipeline_mod.Pipeline, "__init__", held_init)
    win = MainWindow(source="demo", model="cc_lenet5", detector="hog", cameras=[], persist=False)
    qtbot.addWidget(win)
    win.show()
    win.start()
    assert win.session.building and win.video.loading is not None
    qtbot.waitUntil(
        lambda: win.video.loading is not None and "cc_lenet5" in win.video.loading and win.video.paints > 0,
        timeout=60_000,
    )
    painted = win.video.paints
    qtbot.waitUntil(lambda: win.video.paints >= painted + 3, timeout=60_000)  # the display timer repaints it
    shot = win.video.grab().toImage()
    colours = {shot.pixel(x, y) for x in range(0, shot.width(), 7) for y in range(0, shot.height(), 7)}
    assert len(colours) > 2  # text and bar drawn on the background
    gate.set()
    qtbot.waitUntil(lambda: win.video.frames_shown > 0, timeout=90_000)
    assert win.video.loading is None
    win.close()

    def failing_init(self, *args, **kwargs):
        raise RuntimeError("no such detector file")

    monkeypatch.setattr(pipeline_mod.Pipeline, "__init__", failing_init)
    win2 = MainWindow(source="demo", model="cc_lenet5", detector="hog", cameras=[], persist=False)
    qtbot.addWidget(win2)
    win2.show()
    win2.dialogs.message = lambda _m: None  # no dialog box in a test
    win2.start()
    qtbot.waitUntil(lambda: not win2.session.building, timeout=60_000)
    assert win2.video.loading is None and "no such detector file" in win2.video.placeholder
    win2.close()


def test_program_exit_skips_teardown_but_keeps_exit_semantics(tmp_path):
    """`ferapp analyze` ends without tearing the interpreter down (~1 CPU-s after import
    torch) yet like a normal exit: its files complete, atexit handlers run, output flushed,
    the exit status kept."""
    out = tmp_path / "t.csv"
    code = f"""
import atexit, sys
import ferapp.cli as cli
atexit.register(lambda: print("atexit ran"))
sys.argv = ["ferapp", "analyze", "demo", "--max-frames", "2", "--model", "cc_lenet5", "--quiet", "--out", {str(out)!r}]
cli.run()
print("not reached")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "atexit ran" in proc.stdout and "not reached" not in proc.stdout
    assert f"timeline: {out} (2 rows)" in proc.stdout
    from ferapp.record.timeline import read_timeline

    tl = read_timeline(out)
    assert len(tl) == 2 and not tl.recovered and out.with_suffix(".json").exists()
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "already exists" in again.stderr  # the error's status survives


def test_bench_reports_startup_and_window_startup():
    """The bench's start-up table and the window's start-up columns (from the `startup` line a
    `ferapp gui --exit-after` run prints, also when it ended before its pipeline was built)."""
    from ferapp.bench import format_report
    from ferapp.bench.startup import gui_startup_columns

    out = (
        'startup {"first_paint_s": 1.25, "pipeline_ready_s": 3.5, "first_result_s": 3.75, '
        '"first_result_cpu_s": 4.5, "build_s": 2.5, "build_ticks": 100, "build_expected_ticks": 125}\n'
    )
    cols = gui_startup_columns(out)
    assert cols == {
        "first_paint_s": 1.25,
        "first_result_s": 3.75,
        "first_result_cpu_s": 4.5,
        "build_s": 2.5,
        "build_loop_share": 0.8,
    }
    assert set(gui_startup_columns("no such line").values()) == {None}
    res = {
        "hardware": {"cpu": "test CPU", "torch": "x", "cuda": None},
        "startup": [
            {
                "command": "ferapp models",
                "runs": 3,
                "cpu_median_s": 0.17,
                "cpu_min_s": 0.15,
                "wall_median_s": 0.5,
                "wall_min_s": 0.4,
            }
        ],
        "gui": [{**cols, "faces": 1}],
    }
    text = format_report(res)
    assert "## Start-up" in text and "| ferapp models" in text and "0.17" in text
    start = text.index("Desktop window start-up")
    assert "1.25" in text[start:] and "0.8" in text[start:]

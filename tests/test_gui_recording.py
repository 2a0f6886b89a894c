"""The window's recording sidecar holds the same run keys as ``ferapp analyze``'s (pytest-qt)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from test_gui import WAIT, make_window

from ferapp.record.metadata import RUN_KEYS
from ferapp.record.timeline import sidecar_path

pytestmark = pytest.mark.gui


def test_gui_and_cli_sidecars_hold_the_same_run_keys(qtbot, tmp_path):
    from ferapp.cli import main

    win = make_window(qtbot, min_face=32)
    path = win.start_recording()
    qtbot.waitUntil(lambda: win.recorder.rows > 0, timeout=WAIT)
    win.stop_recording()
    win.close()
    gui = json.loads(sidecar_path(path).read_text())

    out = tmp_path / "cli.csv"
    assert (
        main(
            [
                "analyze",
                "demo",
                "--max-frames",
                "3",
                "--model",
                "cc_lenet5",
                "--min-face",
                "32",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    cli = json.loads(sidecar_path(out).read_text())

    run_keys = set(RUN_KEYS)
    assert run_keys <= set(gui) and run_keys <= set(cli)
    counts = {"processed", "frames_read", "frames_with_face", "face_ids", "dominant"}  # analyze's summary
    assert set(gui) - run_keys == set(cli) - run_keys - counts
    for meta in (gui, cli):
        assert meta["fps"] == 30.0 and meta["min_face"] == 32.0 and meta["detector"] == "hog"
        assert meta["source"] == "demo" and meta["driver"] is False and meta["every"] == 1
    assert gui["model"] == cli["model"] == "cc_lenet5 (untrained)"

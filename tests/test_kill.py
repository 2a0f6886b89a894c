"""Recording durability: SIGKILL a recording process; the timeline still loads, at most ~1 s lost.

Two recorders are killed: `ferapp analyze demo --out t.csv` (endless demo) and the GUI's
record action (MainWindow on the demo source, offscreen). Each is a real subprocess killed
with SIGKILL, so no finaliser, atexit handler or `finally` runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from ferapp.record.timeline import PROB_COLUMNS, TIMELINE_COLUMNS, read_timeline, sidecar_path

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(REPO),
        QT_QPA_PLATFORM="offscreen",
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "cfg"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        OMP_NUM_THREADS="1",
    )
    return env


def _rows_on_disk(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return max(0, f.read().count(b"\n") - 1)
    except OSError:
        return 0


def _kill_when(
    proc: subprocess.Popen, csv_path: Path, min_rows: int, timeout: float, min_seconds: float = 0.0
) -> float:
    """SIGKILL ``proc`` once ``csv_path`` has more than ``min_rows`` rows and has been getting rows
    for ``min_seconds``; returns the kill wall time."""
    deadline = time.monotonic() + timeout
    first_rows: float | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"recorder exited early (rc {proc.returncode}):\n{out}\n{err}")
        rows = _rows_on_disk(csv_path)
        if rows and first_rows is None:
            first_rows = time.monotonic()
        if rows > min_rows and first_rows is not None and time.monotonic() - first_rows >= min_seconds:
            break
        time.sleep(0.05)
    else:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"no {min_rows} rows in {timeout} s ({_rows_on_disk(csv_path)} rows):\n{out}\n{err}")
    kill_t = time.time()
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    return kill_t


def _check_recovered(csv_path: Path, kill_t: float, min_rows: int) -> None:
    tl = read_timeline(csv_path)
    assert tl.recovered
    assert len(tl) > min_rows
    for c in TIMELINE_COLUMNS:  # every row loaded is complete
        assert len(tl.columns[c]) == len(tl)
    assert np.all(np.isfinite(tl.columns["timestamp"])) and np.all(np.isfinite(tl.columns["time_s"]))
    assert np.all(tl.columns["label"] != "")
    assert np.allclose(tl.probs.sum(axis=1), 1.0, atol=1e-3)
    side = sidecar_path(csv_path)
    assert side.exists()
    assert json.loads(side.read_text())["finalized"] is False
    assert tl.meta.get("finalized") is False
    lost = kill_t - float(tl.columns["timestamp"][-1])
    assert -0.05 <= lost < 1.5, f"last row {lost:.2f} s before the kill"  # at most ~the last second lost


def test_sigkill_during_cli_analyze_loses_at_most_a_second(tmp_path):
    out = tmp_path / "t.csv"
    cmd = [
        sys.executable,
        "-m",
        "ferapp",
        "analyze",
        "demo",
        "--model",
        "cc_lenet5",
        "--quiet",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        kill_t = _kill_when(proc, out, 30, timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    _check_recovered(out, kill_t, 30)


GUI_SCRIPT = textwrap.dedent("""
    import sys
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from ferapp.gui.main_window import MainWindow

    app = QApplication(sys.argv[:1])
    win = MainWindow(source="demo", model="cc_lenet5", detector="hog", cameras=[])
    win.show()
    target = sys.argv[1]

    def poll():
        if win.is_running and not win.recorder.active:
            path = win.start_recording(target)
            print("RECORDING", path, flush=True)

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(50)
    win.start()
    app.exec()
""")


def test_sigkill_while_gui_records(tmp_path):
    pytest.importorskip("PySide6")
    script = tmp_path / "gui_record.py"
    script.write_text(GUI_SCRIPT)
    out = tmp_path / "gui.csv"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(out)],
        cwd=tmp_path,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # ~3 s of recording with rows on disk, then SIGKILL
        kill_t = _kill_when(proc, out, 5, timeout=120, min_seconds=3.0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    stdout = proc.stdout.read() if proc.stdout else ""
    assert f"RECORDING {out}" in stdout
    _check_recovered(out, kill_t, 5)
    assert set(PROB_COLUMNS) <= set(read_timeline(out).columns)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_finalises_the_cli_timeline(tmp_path, sig):
    out = tmp_path / "t.csv"
    cmd = [
        sys.executable,
        "-m",
        "ferapp",
        "analyze",
        "demo",
        "--model",
        "cc_lenet5",
        "--quiet",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while _rows_on_disk(out) <= 10 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == (130 if sig == signal.SIGINT else 143), stderr  # 128 + the signal
    assert "interrupted" in stderr and "Traceback" not in stderr
    tl = read_timeline(out)
    assert not tl.recovered and tl.meta["finalized"] is True and tl.meta["interrupted"] is True
    assert len(tl) > 10 and tl.meta["rows"] == len(tl)
    assert "timeline:" in stdout

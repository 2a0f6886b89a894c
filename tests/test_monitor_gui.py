"""DriverPanel under pytest-qt (offscreen): traces, banner, alarm signal, event log, mute."""

from __future__ import annotations

import wave

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from ferapp.gui.driver_panel import DriverPanel, write_tone_wav
from ferapp.monitor import DriverMonitor
from ferapp.monitor.synthetic import synthetic_landmarks

pytestmark = pytest.mark.gui

FPS = 30
SHAPE = (480, 640)


def feed(
    panel: DriverPanel,
    monitor: DriverMonitor,
    t0: float,
    seconds: float,
    refresh_every: int = 3,
    landmarks: bool = True,
    **face,
):
    """Drive monitor + panel like the main window does: state per frame, refresh at ~10 Hz here."""
    n = int(round(seconds * FPS))
    for i in range(n):
        t = t0 + i / FPS
        lm = synthetic_landmarks(frame_shape=SHAPE, **face) if landmarks else None
        panel.update_state(t, monitor.update(t, lm, SHAPE, None))
        if i % refresh_every == 0:
            panel.refresh()
    panel.refresh()
    return t0 + n / FPS


@pytest.fixture
def panel(qtbot):
    w = DriverPanel()
    qtbot.addWidget(w)
    w.resize(420, 640)
    w.show()
    return w


def test_traces_and_readouts_follow_the_state(panel):
    mon = DriverMonitor()
    t = feed(panel, mon, 0.0, 4.0, yaw=10.0, pitch=-5.0, roll=3.0, mouth_open=0.3)
    x, y = panel.ear_curve.getData()
    assert x is not None and len(x) == 4 * FPS
    assert x[-1] == pytest.approx(0.0) and x[0] == pytest.approx(-(4 * FPS - 1) / FPS)
    assert np.nanmean(y) == pytest.approx(0.30, abs=0.03)
    _, ym = panel.mar_curve.getData()
    assert np.nanmean(ym) == pytest.approx(0.3, abs=0.03)
    assert panel.ear_threshold_line.isVisible()
    assert panel.ear_threshold_line.value() == pytest.approx(mon.ear_baseline * 0.75)
    assert panel.mar_threshold_line.value() == pytest.approx(0.6)
    assert panel.yaw_label.text().startswith("yaw +10.")
    assert panel.pitch_label.text().startswith("pitch -5.")
    assert not panel.banner_active and "attentive" in panel.banner.text()
    # only the last ~30 s are kept
    t = feed(panel, mon, t, 40.0, refresh_every=30)
    x, _ = panel.ear_curve.getData()
    assert x.min() >= -30.0 - 1e-9 and len(x) <= 30 * FPS + 1


def test_drowsy_sequence_raises_banner_alarm_and_log(panel, qtbot):
    mon = DriverMonitor()
    t = feed(panel, mon, 0.0, 4.0)
    assert panel.event_log.count() == 0
    plays = panel.alarm.plays
    with qtbot.waitSignal(panel.alarm_raised, timeout=2000) as blocker:
        t = feed(panel, mon, t, 2.0, eye_open=0.05)
    assert "DROWSY" in blocker.args[0]
    assert panel.banner_active and "DROWSY" in panel.banner.text()
    assert "#c62828" in panel.banner.styleSheet()
    assert panel.event_log.count() == 1 and "started" in panel.event_log.item(0).text()
    assert panel.alarm.plays == plays + 1
    # the same event handed in again (add_event and update_state both used) is not duplicated
    panel.add_event(mon.open_events[0])
    panel.refresh()
    assert panel.event_log.count() == 1 and panel.alarm.plays == plays + 1
    # eyes open again: the banner clears and the log line is completed in place
    t = feed(panel, mon, t, 1.0)
    assert not panel.banner_active
    assert panel.event_log.count() == 1
    assert "2.0 s" in panel.event_log.item(0).text()


def test_mute_silences_the_sound_but_not_the_alert(panel, qtbot):
    panel.mute_checkbox.setChecked(True)
    assert panel.muted
    mon = DriverMonitor()
    t = feed(panel, mon, 0.0, 4.0)
    with qtbot.waitSignal(panel.alarm_raised, timeout=2000):
        t = feed(panel, mon, t, 3.0, landmarks=False)
    assert panel.alarm.plays == 0
    assert panel.banner_active and "not visible" in panel.banner.text()
    panel.set_muted(False)
    assert not panel.muted
    t = feed(panel, mon, t, 8.0)  # face back, past the cooldown
    with qtbot.waitSignal(panel.alarm_raised, timeout=2000):
        feed(panel, mon, t, 3.0, yaw=50.0)
    assert panel.alarm.plays == 1


def test_clear_and_alarm_tone(panel, tmp_path):
    mon = DriverMonitor()
    t = feed(panel, mon, 0.0, 4.0)
    feed(panel, mon, t, 2.0, eye_open=0.05)
    assert panel.event_log.count() == 1
    panel.clear()
    assert panel.event_log.count() == 0 and not panel.banner_active
    x, _ = panel.ear_curve.getData()
    assert x is None or len(x) == 0
    assert panel.alarm.wav_path is not None and panel.alarm.wav_path.exists()
    path = write_tone_wav(tmp_path / "a.wav", beeps=2, beep_s=0.1, gap_s=0.05, rate=8000)
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        assert w.getnframes() == 2 * (800 + 400)
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert pcm.max() > 10000 and np.abs(pcm[800:1200]).max() == 0


def test_panel_says_which_thresholds_are_in_force(panel):
    """Alerts are live from the first second: while the driver is being calibrated the panel
    says the population defaults are in force (and how far calibration is), then that the
    thresholds are calibrated for this driver; the banner never blocks on calibration."""
    mon = DriverMonitor()
    t = feed(panel, mon, 0.0, 1.0)
    text = panel.thresholds_label.text()
    assert "population defaults" in text and "0.18" in text and "32%" in text  # 29 intervals of 1/30 s
    assert "attentive" in panel.banner.text() and "calibrating" in panel.banner.text()
    t = feed(panel, mon, t, 2.5)
    text = panel.thresholds_label.text()
    assert "calibrated for this driver" in text and f"{mon.ear_baseline * 0.75:.2f}" in text
    assert panel.banner.text() == "Driver attentive"
    panel.clear()
    assert panel.thresholds_label.text() == "Thresholds –"


def test_drowsy_alarm_before_calibration(panel, qtbot):
    mon = DriverMonitor()
    t = feed(panel, mon, 0.0, 0.3)
    with qtbot.waitSignal(panel.alarm_raised, timeout=2000) as blocker:
        feed(panel, mon, t, 1.8, eye_open=0.05)
    assert "DROWSY" in blocker.args[0] and panel.banner_active
    assert "population defaults" in panel.thresholds_label.text()

"""Driver monitor: alerts before calibration, calibration counted in seconds of face, and
calibration that belongs to a person (not to a track, a run or a blink)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ferapp.monitor import DriverMonitor, DriverMonitorConfig
from ferapp.monitor.identity import DriverIdentity
from ferapp.monitor.state import CHIP_SPACING_S
from ferapp.monitor.synthetic import synthetic_landmarks
from ferapp.types import Face, FaceResult, Frame, FrameResult

FPS = 30
DT = 1.0 / FPS
SHAPE = (480, 640)


def feed(mon: DriverMonitor, t0: float, seconds: float, **face):
    """Synthetic landmarks straight into ``update`` (None face when ``face=None``)."""
    states = []
    for i in range(int(round(seconds * FPS))):
        t = t0 + i / FPS
        lm = (
            None
            if face.get("face", True) is None
            else synthetic_landmarks(frame_shape=SHAPE, **{k: v for k, v in face.items() if k != "face"})
        )
        states.append(mon.update(t, lm, SHAPE, None))
    return states


def test_alerts_work_from_the_first_second_on_population_thresholds():
    # eyes shut from 0.5 s for 2 s: the drowsy alarm comes at 2.0 s, before calibration (3 s)
    mon = DriverMonitor()
    states = feed(mon, 0.0, 0.5) + feed(mon, 0.5, 2.0, eye_open=0.05) + feed(mon, 2.5, 2.0)
    started = [(s.t, e.type) for s in states for e in s.started]
    assert started == [(pytest.approx(2.0, abs=DT + 1e-9), "drowsy")]
    at_alarm = next(s for s in states if s.started)
    assert not at_alarm.calibrated and at_alarm.thresholds == "population"
    assert at_alarm.ear_threshold == pytest.approx(DriverMonitorConfig().ear_closed_population)
    ev = mon.events[0]
    assert abs(ev.start - 0.5) <= DT + 1e-9 and abs(ev.end - 2.5) <= DT + 1e-9
    # looking away is live before calibration too (relative to the pose seen so far)
    mon = DriverMonitor()
    feed(mon, 0.0, 0.3)
    states = feed(mon, 0.3, 2.5, yaw=45.0)
    assert any(e.type == "distraction" for s in states for e in s.started)
    assert not states[-1].calibrated
    # an ordinary face before calibration raises nothing
    mon = DriverMonitor()
    states = feed(mon, 0.0, 2.9, eye_open=0.8)  # EAR 0.24, a narrow-eyed driver
    assert mon.events == [] and not any(s.eyes_closed for s in states)


def test_calibration_replaces_population_thresholds_and_keeps_a_closure_whole():
    mon = DriverMonitor()
    states = feed(mon, 0.0, 3.2, eye_open=1.2)  # EAR 0.36
    before, after = states[85], states[-1]
    assert before.thresholds == "population" and 0.9 < before.calibration_progress < 1
    assert after.thresholds == "calibrated" and after.calibration_progress == 1.0
    assert after.ear_threshold == pytest.approx(0.75 * 0.36, abs=0.005)
    # a closure that spans the switch stays one closure (no blink, no split event)
    mon = DriverMonitor()
    feed(mon, 0.0, 2.0)
    feed(mon, 2.0, 2.0, eye_open=0.05)
    feed(mon, 4.0, 1.0)
    assert mon.calibrated and mon.blinks == 0
    assert [(e.type, round(e.start, 2), round(e.end, 2)) for e in mon.events] == [("drowsy", 2.0, 4.0)]


def test_calibration_counts_seconds_of_face_not_of_clock():
    # walk.mkv: 2.97 s of one face. Played twice in the window (Start again at its end: the
    # media clock restarts at 0), calibration must complete during the second play; it used
    # to start over on every Start and stall at 90-98%.
    mon = DriverMonitor()
    states = feed(mon, 0.0, 2.5)
    assert not states[-1].calibrated and states[-1].calibration_progress == pytest.approx(2.5 / 3, abs=0.02)
    mon.new_drive()
    states = feed(mon, 0.0, 2.5)
    assert states[-1].calibrated
    first_cal = next(s for s in states if s.calibrated)
    assert first_cal.t == pytest.approx(0.5 + DT, abs=DT + 1e-9)
    # a long detector gap adds no calibration time (its seconds are not seconds of face)
    mon = DriverMonitor()
    feed(mon, 0.0, 1.0)
    feed(mon, 1.0, 5.0, face=None)
    states = feed(mon, 6.0, 1.5)
    assert not states[-1].calibrated and states[-1].calibration_progress == pytest.approx(2.5 / 3, abs=0.03)
    # a live runner on a busy CPU: the face in every processed frame, 0.7 s apart
    mon = DriverMonitor()
    states = [mon.update(i * 0.7, synthetic_landmarks(frame_shape=SHAPE), SHAPE, None) for i in range(6)]
    assert not states[4].calibrated and states[5].calibrated


def test_new_drive_keeps_the_calibrated_driver_and_starts_a_new_log():
    mon = DriverMonitor()
    feed(mon, 0.0, 4.0, eye_open=1.2)
    feed(mon, 4.0, 2.0, eye_open=0.05)
    assert mon.calibrated and [e.type for e in mon.events] == ["drowsy"]
    baseline = mon.ear_baseline
    mon.new_drive()
    assert mon.events == [] and mon.blinks == 0 and mon.calibrated and mon.ear_baseline == baseline
    states = feed(mon, 0.0, 0.5, eye_open=1.2)
    assert states[0].thresholds == "calibrated" and states[0].perclos == 0.0


# --------------------------------------------------------------------------- person changes


class FakeIdentity(DriverIdentity):
    """Chips carry the person's name (a 1x1 array of its hash) instead of a face: the
    comparison answers 0 (same name) or 1 (another name)."""

    def __init__(self, config=DriverMonitorConfig()):
        super().__init__(
            config.person_distance,
            config.identity_frames,
            compare=lambda ref, cand: 0.0 if _names(ref) == _names(cand) else 1.0,
        )
        self.compared = 0

    def add_candidate(self, chip):
        out = super().add_candidate(chip)
        self.compared += out is not None
        return out


def _names(chips):
    return {int(c[0, 0]) for c in chips}


def _frame_result(t: float, index: int, person: int, face_id: int, **face) -> FrameResult:
    lm = synthetic_landmarks(frame_shape=SHAPE, **face)
    image = np.full((*SHAPE, 3), person, np.uint8)  # the "person" is the image's colour
    return FrameResult(
        Frame(image, index, t, t),
        (FaceResult(Face((250, 150, 150, 180), 1.0, lm, face_id=face_id), None),),
        "m",
        "d",
        "synthetic",
    )


@pytest.fixture
def chips_by_colour(monkeypatch):
    """face_chip -> a 1x1 chip holding the frame's colour (who it is), for FakeIdentity."""
    import ferapp.monitor.state as state_mod

    monkeypatch.setattr(state_mod, "face_chip", lambda image, lm: image[:1, :1, 0].copy())


def run(mon, t0: float, seconds: float, person: int, face_id: int, index0: int = 0, **face):
    states = []
    for i in range(int(round(seconds * FPS))):
        out = mon.process(_frame_result(t0 + i / FPS, index0 + i, person, face_id, **face))
        states.append(out.extras["driver"])
    return states


def test_calibration_restarts_only_for_another_person(chips_by_colour):
    ident = FakeIdentity()
    mon = DriverMonitor(identity=ident)
    run(mon, 0.0, 3.5, person=10, face_id=0, eye_open=1.2)
    assert mon.calibrated and len(ident.reference) >= 3
    base = mon.ear_baseline
    # a blink, a head turn and a brief loss on the same track: nothing to decide
    run(mon, 3.5, 0.15, person=10, face_id=0, eye_open=0.05)
    run(mon, 3.65, 1.0, person=10, face_id=0, eye_open=1.2, yaw=40)
    for _ in range(10):
        mon.process(FrameResult(Frame(np.zeros((*SHAPE, 3), np.uint8), 0, 4.7, 4.7), (), "m", "d", "s"))
    run(mon, 5.0, 0.5, person=10, face_id=0, eye_open=1.2)
    assert mon.calibrated and mon.ear_baseline == base and ident.compared == 0
    # the tracker lost her for long and gave her a new id: the same person, calibration kept
    states = run(mon, 6.0, 1.0, person=10, face_id=1, eye_open=1.2)
    assert ident.compared == 1 and all(s.calibrated for s in states) and mon.ear_baseline == base
    # a new id that is another person (narrower eyes): population thresholds, a new calibration
    blinks = mon.blinks
    states = run(mon, 7.0, 4.0, person=20, face_id=2, eye_open=0.8)
    assert ident.compared == 2
    switched = next(i for i, s in enumerate(states) if not s.calibrated)
    # decided on the new track's first frontal frames, a few apart
    assert switched <= (ident.frames - 1) * math.ceil(CHIP_SPACING_S * FPS) + 1
    assert states[switched].thresholds == "population"
    assert states[-1].calibrated and mon.ear_baseline == pytest.approx(0.24, abs=0.005)
    # her narrower eyes are not "closed" (only while she was taken for the previous driver)
    assert not any(s.eyes_closed for s in states[switched:])
    assert mon.blinks == blinks and [e.type for e in mon.events] == []
    # a head turned away is not used to decide who it is (a profile says little)
    run(mon, 11.0, 0.2, person=30, face_id=3, eye_open=0.8, yaw=45)
    assert ident.compared == 2 and ident.pending


def test_new_drive_checks_the_first_face(chips_by_colour):
    ident = FakeIdentity()
    mon = DriverMonitor(identity=ident)
    run(mon, 0.0, 3.5, person=10, face_id=0)
    mon.new_drive()  # a restarted source: track ids start again at 0
    states = run(mon, 0.0, 0.5, person=10, face_id=0)
    assert ident.compared == 1 and all(s.calibrated for s in states)
    mon.new_drive()
    states = run(mon, 0.0, 0.5, person=20, face_id=0)  # another clip, another person, same id 0
    assert ident.compared == 2 and not states[-1].calibrated and states[-1].thresholds == "population"


def test_identity_failure_keeps_the_driver(caplog):
    def broken(ref, cand):
        raise FileNotFoundError("dlib model file missing")

    ident = DriverIdentity(0.46, frames=1, compare=broken)
    ident.add_reference(np.zeros((2, 2, 3), np.uint8))
    ident.begin()
    assert ident.add_candidate(np.zeros((2, 2, 3), np.uint8)) is True
    assert "keeping the current calibration" in caplog.text

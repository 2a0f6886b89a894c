"""Driver monitoring: measures on synthetic and real faces, alert rules on synthetic sequences."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from ferapp.labels import LABEL_INDEX, NUM_CLASSES
from ferapp.monitor import (
    DRIVER_COLUMNS,
    AlertEvent,
    DriverMonitor,
    DriverMonitorConfig,
    DriverState,
    eye_aspect_ratio,
    format_events,
    measure_face,
    mouth_aspect_ratio,
    read_events_csv,
    write_events_csv,
)
from ferapp.monitor.synthetic import synthetic_landmarks
from ferapp.types import Expression, Face, FaceResult, Frame, FrameResult

REPO = Path(__file__).resolve().parents[1]
FPS = 30
DT = 1.0 / FPS
SHAPE = (480, 640)


def probs_for(label: str, p: float = 0.8) -> np.ndarray:
    out = np.full(NUM_CLASSES, (1 - p) / (NUM_CLASSES - 1), np.float32)
    out[LABEL_INDEX[label]] = p
    return out


def simulate(monitor: DriverMonitor, segments, t0: float = 0.0, fps: int = FPS):
    """Feed (duration_s, params) segments; params None = no face, a dict = synthetic_landmarks
    kwargs (+ optional "probs"), or a callable (t, rng) -> dict. Returns (states, next t)."""
    rng = np.random.default_rng(0)
    states = []
    i = 0
    for dur, params in segments:
        for _ in range(int(round(dur * fps))):
            t = t0 + i / fps
            i += 1
            p = params(t, rng) if callable(params) else params
            if p is None:
                states.append(monitor.update(t, None, SHAPE, None))
                continue
            p = dict(p)
            probs = p.pop("probs", None)
            states.append(monitor.update(t, synthetic_landmarks(frame_shape=SHAPE, **p), SHAPE, probs))
    return states, t0 + i / fps


OPEN = {}
CLOSED = {"eye_open": 0.05}


def of_type(events, kind):
    return [e for e in events if e.type == kind]


# --------------------------------------------------------------------------- measures


def test_ear_formula_on_a_hand_made_eye():
    eye = np.array([(0, 0), (1, -1), (2, -1), (3, 0), (2, 1), (1, 1)], np.float32)
    assert eye_aspect_ratio(eye) == pytest.approx((2 + 2) / (2 * 3))


def test_synthetic_face_measures_and_pose_round_trip():
    m = measure_face(synthetic_landmarks(), SHAPE)
    assert m.ear == pytest.approx(0.30, abs=1e-3)
    assert m.mar == pytest.approx(0.0, abs=1e-6)
    assert mouth_aspect_ratio(synthetic_landmarks(mouth_open=0.7)) == pytest.approx(0.7, abs=1e-3)
    for yaw, pitch, roll in [(20, 10, -5), (-35, -15, 8), (0, -25, 0)]:
        m = measure_face(synthetic_landmarks(yaw=yaw, pitch=pitch, roll=roll, offset=(150, -80)), SHAPE)
        assert (m.yaw, m.pitch, m.roll) == pytest.approx((yaw, pitch, roll), abs=0.5)
    # conventions: yaw > 0 -> nose to image right (subject's left); mirroring flips yaw and roll
    lm = synthetic_landmarks(yaw=20, roll=8)
    assert lm[30, 0] > (lm[36, 0] + lm[45, 0]) / 2
    mm = measure_face(synthetic_landmarks(yaw=20, pitch=5, roll=8, mirror=True), SHAPE)
    assert mm.yaw == pytest.approx(-20, abs=1.0)
    assert mm.pitch == pytest.approx(5, abs=1.0)
    assert mm.roll == pytest.approx(-8, abs=1.0)


def _dlib_landmarks(image_bgr):
    import cv2
    import dlib

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None:
        pytest.fail("face_recognition_models is not installed (needed for the 68-point predictor)")
    path = Path(spec.submodule_search_locations[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(path))
    rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    rects, scores, _ = detector.run(rgb, 1)
    assert rects, "dlib found no face in the demo image"
    best = rects[int(np.argmax(scores))]
    shape = predictor(rgb, best)
    return np.array([(p.x, p.y) for p in shape.parts()], np.float32)


def test_measures_on_real_demo_portrait():
    import cv2

    img = cv2.imread(str(REPO / "resources" / "demo" / "astronaut.png"))
    assert img is not None
    m = measure_face(_dlib_landmarks(img), img.shape)
    assert 0.15 <= m.ear <= 0.45
    assert 0.15 <= m.ear_left <= 0.45 and 0.15 <= m.ear_right <= 0.45
    assert 0.0 <= m.mar <= 0.5
    assert abs(m.yaw) < 30 and abs(m.pitch) < 30 and abs(m.roll) < 30

    mirrored = cv2.flip(img, 1)
    mm = measure_face(_dlib_landmarks(mirrored), mirrored.shape)
    assert 0.15 <= mm.ear <= 0.45
    if abs(m.yaw) > 2:
        assert np.sign(mm.yaw) == -np.sign(m.yaw)
    else:
        assert abs(mm.yaw) < 5
    assert abs(mm.pitch - m.pitch) < 5  # mirroring leaves pitch alone


# --------------------------------------------------------------------------- rules


def test_calibration_sets_relative_thresholds():
    mon = DriverMonitor(DriverMonitorConfig())
    states, _ = simulate(mon, [(2.0, {"eye_open": 1.2})])
    assert not states[-1].calibrated and 0.5 < states[-1].calibration_progress < 1
    states, _ = simulate(mon, [(2.0, {"eye_open": 1.2})], t0=2.0)
    s = states[-1]
    assert s.calibrated
    assert s.ear_baseline == pytest.approx(0.36, abs=0.005)
    assert s.ear_threshold == pytest.approx(0.75 * 0.36, abs=0.005)
    # a new driver: recalibrate learns a new baseline, and their narrower eyes are not "closed"
    mon.recalibrate()
    states, _ = simulate(mon, [(4.0, {"eye_open": 0.8}), (3.0, {"eye_open": 0.8})], t0=4.0)
    assert states[-1].calibrated and states[-1].ear_baseline == pytest.approx(0.24, abs=0.005)
    assert mon.events == [] and not states[-1].eyes_closed


def test_long_eye_closure_gives_one_drowsy_event_with_exact_timing():
    mon = DriverMonitor()
    states, t_end = simulate(mon, [(4.0, OPEN), (2.0, CLOSED), (3.0, OPEN)])
    assert [e.type for e in mon.events] == ["drowsy"]
    ev = mon.events[0]
    assert abs(ev.start - 4.0) <= DT + 1e-9
    assert abs(ev.end - 6.0) <= DT + 1e-9
    assert ev.severity == "critical" and ev.peak < 0.05
    assert mon.blinks == 0
    # the event was announced once, when the closure reached drowsy_closed_s
    started = [(s.t, e) for s in states for e in s.started]
    assert len(started) == 1 and abs(started[0][0] - 5.5) <= DT + 1e-9
    assert any("drowsy" in s.alerts for s in states) and states[-1].alerts == ()


def test_ordinary_blinks_are_counted_but_raise_nothing():
    mon = DriverMonitor()
    segs = [(4.0, OPEN)] + [(0.15, CLOSED), (2.85, OPEN)] * 10
    states, t_end = simulate(mon, segs)
    assert mon.events == []
    assert mon.blinks == 10 and states[-1].blinks == 10
    expected_rate = 10 * 60.0 / states[-1].t  # since the first face (eye rules run from the start)
    assert states[-1].blink_rate == pytest.approx(expected_rate, rel=0.05)


def test_yawn():
    mon = DriverMonitor()
    simulate(mon, [(4.0, OPEN), (2.0, {"mouth_open": 0.8}), (2.0, OPEN)])
    assert [e.type for e in mon.events] == ["yawn"]
    ev = mon.events[0]
    assert abs(ev.start - 4.0) <= DT + 1e-9 and abs(ev.end - 6.0) <= DT + 1e-9
    assert ev.peak == pytest.approx(0.8, abs=0.02)
    assert mon.yawns == 1
    # talking-sized openings and short yawns don't count
    mon2 = DriverMonitor()
    simulate(
        mon2, [(4.0, OPEN), (2.0, {"mouth_open": 0.35}), (1.0, OPEN), (0.6, {"mouth_open": 0.8}), (1, OPEN)]
    )
    assert mon2.events == [] and mon2.yawns == 0


def test_head_turn_gives_one_distraction_event():
    mon = DriverMonitor()
    states, _ = simulate(mon, [(4.0, OPEN), (3.0, {"yaw": 45}), (2.0, OPEN)])
    assert [e.type for e in mon.events] == ["distraction"]
    ev = mon.events[0]
    assert abs(ev.start - 4.0) <= DT + 1e-9 and abs(ev.end - 7.0) <= DT + 1e-9
    assert ev.detail == "looking left" and ev.peak == pytest.approx(45, abs=1)
    assert states[-1].looking_away_s == pytest.approx(3.0, abs=2 * DT)

    mon = DriverMonitor()
    simulate(mon, [(4.0, OPEN), (3.0, {"pitch": -30}), (2.0, OPEN)])
    assert [(e.type, e.detail) for e in mon.events] == [("distraction", "looking down")]
    # a short glance (1 s) is not a distraction
    mon = DriverMonitor()
    simulate(mon, [(4.0, OPEN), (1.0, {"yaw": -45}), (2.0, OPEN)])
    assert mon.events == []


def test_pose_is_relative_to_calibrated_neutral():
    # camera mounted off to the side: the driver's neutral yaw is 25 deg, a turn to 40 is only 15 off
    mon = DriverMonitor()
    simulate(mon, [(4.0, {"yaw": 25}), (3.0, {"yaw": 40}), (3.0, {"yaw": 25})])
    assert mon.events == []
    mon = DriverMonitor(DriverMonitorConfig(calibrate_pose=False))
    simulate(mon, [(4.0, {"yaw": 25}), (3.0, {"yaw": 40}), (3.0, {"yaw": 25})])
    assert [e.type for e in mon.events] == ["distraction"]


def test_missing_face_gives_one_face_lost_event():
    mon = DriverMonitor()
    states, _ = simulate(mon, [(4.0, OPEN), (3.0, None), (2.0, OPEN)])
    assert [e.type for e in mon.events] == ["face_lost"]
    ev = mon.events[0]
    assert abs(ev.start - 4.0) <= DT + 1e-9 and abs(ev.end - 7.0) <= DT + 1e-9
    assert ev.peak == pytest.approx(3.0, abs=2 * DT)
    assert math.isnan(states[int(5 * FPS)].ear) and not states[int(5 * FPS)].face
    # a short detector drop-out in the middle of a long closure does not split the drowsy event
    mon = DriverMonitor()
    simulate(mon, [(4.0, OPEN), (1.0, CLOSED), (0.2, None), (1.0, CLOSED), (2.0, OPEN)])
    assert [e.type for e in mon.events] == ["drowsy"]
    assert abs(mon.events[0].start - 4.0) <= DT + 1e-9


def test_hysteresis_prevents_flapping():
    # eye opening dithers across the closed threshold (0.75 x baseline) but stays below the
    # re-open threshold (0.80 x baseline) for 4 s: one drowsy episode, no spurious blinks
    def dither(t, rng):
        return {"eye_open": float(rng.uniform(0.70, 0.79))}

    segs = [(4.0, OPEN), (4.0, dither), (2.0, OPEN)]
    mon = DriverMonitor()
    simulate(mon, segs)
    assert [e.type for e in mon.events] == ["drowsy"]
    assert mon.blinks == 0
    # control: without the margin the same signal flaps (many "blinks", broken episodes)
    flappy = DriverMonitor(DriverMonitorConfig(ear_open_margin=0.0))
    simulate(flappy, segs)
    assert flappy.blinks > 5

    # head yaw oscillating around the 30 deg limit (27..37) for 6 s: one distraction event
    def wobble(t, rng):
        return {"yaw": 32.0 + 5.0 * math.sin(2 * math.pi * 1.5 * t)}

    mon = DriverMonitor()
    simulate(mon, [(4.0, OPEN), (6.0, wobble), (2.0, OPEN)])
    assert [e.type for e in mon.events] == ["distraction"]
    assert abs(mon.events[0].end - 10.0) <= DT + 1e-9

    # MAR dithering around the yawn threshold: one yawn
    def mouth(t, rng):
        return {"mouth_open": float(0.6 + rng.uniform(-0.08, 0.08))}

    mon = DriverMonitor()
    simulate(mon, [(4.0, OPEN), (3.0, {"mouth_open": 0.8}), (3.0, mouth), (2.0, OPEN)])
    assert [e.type for e in mon.events] == ["yawn"] and mon.yawns == 1
    assert abs(mon.events[0].end - 10.0) <= DT + 1e-9  # without the margin it ends at ~7 s


def test_cooldown_suppresses_repeats():
    segs = [(4.0, OPEN), (2.0, CLOSED), (2.0, OPEN), (2.0, CLOSED), (2.0, OPEN)]
    mon = DriverMonitor(DriverMonitorConfig(cooldown_s=5.0))
    simulate(mon, segs)
    assert len(of_type(mon.events, "drowsy")) == 1
    mon = DriverMonitor(DriverMonitorConfig(cooldown_s=0.0))
    simulate(mon, segs)
    assert len(of_type(mon.events, "drowsy")) == 2
    mon = DriverMonitor(DriverMonitorConfig(cooldown_s=5.0))
    simulate(mon, [(4.0, OPEN), (2.0, CLOSED), (6.0, OPEN), (2.0, CLOSED), (2.0, OPEN)])
    ev = of_type(mon.events, "drowsy")
    assert len(ev) == 2 and abs(ev[1].start - 12.0) <= DT + 1e-9


def test_perclos_on_known_closure_pattern():
    # after calibration: 1 s closed + 4 s open, repeated -> PERCLOS = 0.2 over the 60 s window
    mon = DriverMonitor()
    states, _ = simulate(mon, [(5.0, OPEN)] + [(1.0, CLOSED), (4.0, OPEN)] * 14)
    assert states[-1].perclos == pytest.approx(0.2, abs=0.01)
    assert of_type(mon.events, "drowsy") == []  # 1 s closures are below drowsy_closed_s
    perclos = of_type(mon.events, "perclos")
    assert len(perclos) == 1 and perclos[0].is_open and perclos[0].peak >= 0.15
    # it fired only after perclos_min_observed_s of observation (counted from the first face:
    # the population threshold is in force before calibration)
    first = next(s for s in states if "perclos" in s.alerts)
    assert first.t >= 20.0 - 1e-9
    assert mon.blinks == 14

    # 0.5 s closed every 10 s -> 0.05, no alert
    mon = DriverMonitor()
    states, _ = simulate(mon, [(5.0, OPEN)] + [(0.5, CLOSED), (9.5, OPEN)] * 7)
    assert states[-1].perclos == pytest.approx(0.05, abs=0.01)
    assert of_type(mon.events, "perclos") == []


def test_sustained_negative_emotion():
    neutral = {"probs": probs_for("neutral")}
    mon = DriverMonitor()
    simulate(mon, [(4.0, neutral), (6.0, {"probs": probs_for("angry")}), (2.0, neutral)])
    assert [(e.type, e.detail) for e in mon.events] == [("emotion", "angry")]
    ev = mon.events[0]
    assert abs(ev.start - 4.0) <= DT + 1e-9 and abs(ev.end - 10.0) <= DT + 1e-9
    assert ev.peak == pytest.approx(0.8, abs=1e-6)
    mon = DriverMonitor()
    simulate(
        mon,
        [
            (4.0, neutral),
            (4.0, {"probs": probs_for("angry")}),
            (2.0, neutral),
            (6.0, {"probs": probs_for("happy")}),
        ],
    )
    assert mon.events == []


def test_finish_closes_open_events_and_reset_forgets():
    mon = DriverMonitor()
    simulate(mon, [(4.0, OPEN), (3.0, CLOSED)])
    assert len(mon.events) == 1 and mon.events[0].is_open
    simulate(mon, [(1.0, CLOSED), (1.0, OPEN), (3.0, {"yaw": 50})], t0=7.0)
    assert [e.is_open for e in mon.events] == [False, True]
    assert mon.last_t == pytest.approx(12.0 - DT)
    every = mon.finish()
    assert [e.type for e in every] == ["drowsy", "distraction"] and every == mon.events
    assert abs(every[0].end - 8.0) <= DT + 1e-9 and every[1].end == mon.last_t
    assert not any(e.is_open for e in mon.events)
    mon.reset()
    assert mon.events == [] and not mon.calibrated and mon.blinks == 0


# --------------------------------------------------------------------------- pipeline hook


def _result(t: float, faces, index: int = 0) -> FrameResult:
    frame = Frame(np.zeros((*SHAPE, 3), np.uint8), index, t, t)
    return FrameResult(frame, tuple(faces), "m", "d", "synthetic")


def test_process_annotates_the_driver_face():
    mon = DriverMonitor()
    passenger = FaceResult(
        Face((20, 20, 40, 40), 1.0, synthetic_landmarks(distance=6000, offset=(-2000, 0)), face_id=7),
        Expression(probs_for("happy")),
    )
    out = None
    for i in range(int(8 * FPS)):
        t = i / FPS
        eye = 0.05 if 4.0 <= t < 6.0 else 1.0
        driver = FaceResult(
            Face((250, 150, 150, 180), 1.0, synthetic_landmarks(eye_open=eye), face_id=3),
            Expression(probs_for("neutral")),
            {"keep": 1},
        )
        out = mon.process(_result(t, [passenger, driver], i))
        if i == 168:  # t = 5.6 s, 1.6 s into the closure
            drv = out.faces[1].extras
            assert drv["event"] == "drowsy" and drv["ear"] < 0.1
    assert set(DRIVER_COLUMNS) <= set(out.faces[1].extras) and out.faces[1].extras["keep"] == 1
    assert "ear" not in out.faces[0].extras
    state = out.extras["driver"]
    assert isinstance(state, DriverState) and state.calibrated and state.event_text == ""
    assert [e.type for e in mon.events] == ["drowsy"]
    # a frame with nobody still produces a state
    empty = mon.process(_result(8.0, []))
    assert not empty.extras["driver"].face


# --------------------------------------------------------------------------- events I/O


def test_events_csv_round_trip_and_table(tmp_path):
    events = [
        AlertEvent("drowsy", 4.0, 6.0, "critical", 0.02),
        AlertEvent("emotion", 10.5, None, "warning", 0.8, "angry"),
    ]
    path = write_events_csv(tmp_path / "sub" / "events.csv", events)
    header = path.read_text().splitlines()[0]
    assert header.startswith("type,start,end,duration,severity,peak")
    back = read_events_csv(path)
    assert back == events
    table = format_events(events)
    assert "drowsy" in table and "open" in table and "2.00" in table and "emotion 1" in table
    assert format_events([]) == "no driver alerts"
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError):
        read_events_csv(bad)

"""The main window's session state machine and source policy (ferapp.session), without Qt.

The transition table below is the specification: every phase x every run-control event, with
the acts the window must carry out and the phase that follows (or SessionError for an event
only a window bug can send). The other tests walk the paths the window relies on.
"""

from __future__ import annotations

import pytest

from ferapp.session import (
    Act,
    FaceWatch,
    Phase,
    Session,
    SessionError,
    camera_fallback,
    initial_source,
    is_camera_spec,
)

B, O, SREC, SRUN, P, R, L = (
    Act.BUILD_PIPELINE,
    Act.OPEN_RUNNER,
    Act.STOP_RECORDING,
    Act.STOP_RUNNER,
    Act.PAUSE_RUNNER,
    Act.RESUME_RUNNER,
    Act.LOAD_MODEL,
)


class Clock:
    def __init__(self, t: float = 100.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def session_in(phase: Phase, *, recording: bool = False, can_pause: bool = True, clock=None) -> Session:
    """A Session driven into ``phase`` through legal events only."""
    s = Session(model_ref="m", clock=clock or Clock())
    if recording:
        s.recording_started()
    if phase is Phase.IDLE:
        return s
    assert s.start() == (B,)
    if phase is Phase.BUILDING:
        return s
    if phase is Phase.CLOSED:
        s.close()
        return s
    s.stop()  # cancel the queued start: the build ends in READY
    assert s.pipeline_built("m") == ()
    if recording:
        s.recording_started()
    if phase is Phase.READY:
        return s
    assert s.start() == (O,)
    if phase is Phase.STARTING:
        return s
    s.runner_started(can_pause=can_pause)
    if phase is Phase.RUNNING:
        return s
    assert s.pause() == (P,)
    assert phase is Phase.PAUSED
    return s


EVENTS = (
    "start",
    "pipeline_built",
    "pipeline_failed",
    "runner_started",
    "runner_failed",
    "stop",
    "pause",
    "resume",
    "source_ended",
    "close",
)
ERR = SessionError
# (phase, event) -> (acts, next phase) or ERR; not recording, a source that can pause
TABLE = {
    Phase.IDLE: {
        "start": ((B,), Phase.BUILDING),
        "pipeline_built": ERR,
        "pipeline_failed": ERR,
        "runner_started": ERR,
        "runner_failed": ERR,
        "stop": ((), Phase.IDLE),
        "pause": ((), Phase.IDLE),
        "resume": ((), Phase.IDLE),
        "source_ended": ((), Phase.IDLE),
        "close": ((), Phase.CLOSED),
    },
    Phase.BUILDING: {
        "start": ((), Phase.BUILDING),
        "pipeline_built": ((O,), Phase.STARTING),
        "pipeline_failed": ((), Phase.IDLE),
        "runner_started": ERR,
        "runner_failed": ERR,
        "stop": ((), Phase.BUILDING),
        "pause": ((), Phase.BUILDING),
        "resume": ((), Phase.BUILDING),
        "source_ended": ((), Phase.BUILDING),
        "close": ((), Phase.CLOSED),
    },
    Phase.READY: {
        "start": ((O,), Phase.STARTING),
        "pipeline_built": ERR,
        "pipeline_failed": ERR,
        "runner_started": ERR,
        "runner_failed": ERR,
        "stop": ((), Phase.READY),
        "pause": ((), Phase.READY),
        "resume": ((), Phase.READY),
        "source_ended": ((), Phase.READY),
        "close": ((), Phase.CLOSED),
    },
    Phase.STARTING: {
        "start": ((), Phase.STARTING),
        "pipeline_built": ERR,
        "pipeline_failed": ERR,
        "runner_started": ((), Phase.RUNNING),
        "runner_failed": ((), Phase.READY),
        "stop": ((), Phase.STARTING),
        "pause": ((), Phase.STARTING),
        "resume": ((), Phase.STARTING),
        "source_ended": ((), Phase.STARTING),
        "close": ((), Phase.CLOSED),
    },
    Phase.RUNNING: {
        "start": ((), Phase.RUNNING),
        "pipeline_built": ERR,
        "pipeline_failed": ERR,
        "runner_started": ERR,
        "runner_failed": ERR,
        "stop": ((SRUN,), Phase.READY),
        "pause": ((P,), Phase.PAUSED),
        "resume": ((), Phase.RUNNING),
        "source_ended": ((SRUN,), Phase.READY),
        "close": ((SRUN,), Phase.CLOSED),
    },
    Phase.PAUSED: {
        "start": ((), Phase.PAUSED),
        "pipeline_built": ERR,
        "pipeline_failed": ERR,
        "runner_started": ERR,
        "runner_failed": ERR,
        "stop": ((SRUN,), Phase.READY),
        "pause": ((), Phase.PAUSED),
        "resume": ((R,), Phase.RUNNING),
        "source_ended": ((SRUN,), Phase.READY),
        "close": ((SRUN,), Phase.CLOSED),
    },
    Phase.CLOSED: {e: ((), Phase.CLOSED) for e in EVENTS if e not in ("runner_started", "runner_failed")}
    | {"runner_started": ERR, "runner_failed": ERR},
}


def test_the_table_covers_every_phase_and_event():
    assert set(TABLE) == set(Phase)
    assert all(set(row) == set(EVENTS) for row in TABLE.values())


@pytest.mark.parametrize(
    "phase,event",
    [(p, e) for p in Phase for e in EVENTS],
    ids=lambda v: v.value if isinstance(v, Phase) else v,
)
def test_transition_table(phase, event):
    s = session_in(phase)
    expected = TABLE[phase][event]
    if expected is ERR:
        with pytest.raises(SessionError, match=phase.value):
            getattr(s, event)()
        assert s.phase is phase  # a refused event changes nothing
        return
    acts, after = expected
    assert (getattr(s, event)() or ()) == acts
    assert s.phase is after


# ---------------------------------------------------------------------- start / stop while building
def test_start_while_building_queues_one_start():
    s = session_in(Phase.BUILDING)
    assert s.start_pending
    assert s.start() == () and s.start() == ()  # no second build
    assert s.pipeline_built("m") == (O,)  # the queued start opens the source at once
    s.runner_started()
    assert s.running and not s.start_queued


def test_stop_while_building_cancels_the_queued_start_and_start_requeues_it():
    s = session_in(Phase.BUILDING)
    assert s.stop() == ()
    assert s.phase is Phase.BUILDING and not s.start_pending  # the build itself goes on
    assert s.start() == ()  # Start again before it is built: queued again, still one build
    assert s.pipeline_built("m") == (O,)


def test_stop_while_building_then_built_is_ready_not_running():
    s = session_in(Phase.BUILDING)
    s.stop()
    assert s.pipeline_built("m") == ()
    assert s.phase is Phase.READY and s.has_pipeline and not s.running
    assert s.start() == (O,)  # no second build: the pipeline is kept


def test_failed_build_drops_the_queued_start_and_the_next_start_builds_again():
    s = session_in(Phase.BUILDING)
    assert s.pipeline_failed() == ()
    assert s.phase is Phase.IDLE and not s.start_pending and not s.has_pipeline
    assert s.start() == (B,)


def test_a_source_that_does_not_open_keeps_the_pipeline():
    s = session_in(Phase.STARTING)
    assert s.start_pending  # the Start action stays checked while the source opens
    s.runner_failed()
    assert s.phase is Phase.READY and s.has_pipeline and not s.start_pending
    assert s.start() == (O,)  # e.g. the camera -> demo fallback


# ---------------------------------------------------------------------- recording (orthogonal)
@pytest.mark.parametrize("phase", [Phase.RUNNING, Phase.PAUSED])
def test_stop_while_recording_stops_the_recording_first(phase):
    s = session_in(phase, recording=True)
    assert s.stop() == (SREC, SRUN)
    assert not s.recording and s.phase is Phase.READY


def test_close_while_recording_stops_the_recording_first():
    s = session_in(Phase.RUNNING, recording=True)
    assert s.close() == (SREC, SRUN)
    assert s.closed and not s.recording
    assert s.close() == ()


def test_source_end_while_recording_stops_and_keeps_the_recording():
    s = session_in(Phase.RUNNING, recording=True)
    acts = s.source_ended()
    assert acts == (SREC, SRUN)  # the recording is finalised (kept), never discarded
    assert Act.STOP_RECORDING.value.endswith("kept)")
    assert not s.recording and s.phase is Phase.READY
    assert s.start() == (O,)  # Start after the end plays it again


def test_recording_started_while_the_pipeline_builds_is_stopped_by_stop():
    s = session_in(Phase.BUILDING)
    s.recording_started()  # Record pressed before anything ran: the file opens at once
    assert s.stop() == (SREC,)
    assert s.phase is Phase.BUILDING and not s.recording


@pytest.mark.parametrize("phase", [Phase.IDLE, Phase.READY])
def test_recording_without_capture_is_stopped_by_stop_and_close(phase):
    s = session_in(phase, recording=True)
    assert s.stop() == (SREC,)
    s.recording_started()
    assert s.close() == (SREC,)


def test_recording_failure_clears_the_flag_and_the_next_stop_has_nothing_to_finalise():
    s = session_in(Phase.RUNNING, recording=True)
    s.recording_stopped()  # the recorder hit a disk error
    assert s.running and s.stop() == (SRUN,)


def test_no_recording_after_close():
    s = session_in(Phase.CLOSED)
    with pytest.raises(SessionError):
        s.recording_started()
    assert not s.recording


# ---------------------------------------------------------------------- pause
def test_pause_needs_a_source_that_can_pause():
    s = session_in(Phase.RUNNING, can_pause=False)
    assert s.pause() == () and s.phase is Phase.RUNNING


def test_stopping_a_paused_source_forgets_pause():
    s = session_in(Phase.PAUSED)
    s.stop()
    assert not s.paused and not s.can_pause
    assert s.start() == (O,)
    s.runner_started(can_pause=False)
    assert not s.paused and s.pause() == ()


# ---------------------------------------------------------------------- close
def test_close_while_building_ignores_the_pipeline_that_arrives_later():
    s = session_in(Phase.BUILDING)
    assert s.close() == ()
    assert s.pipeline_built("m") == () and not s.has_pipeline and s.loaded_model_ref is None
    assert s.pipeline_failed() == ()
    assert s.start() == () and s.closed


def test_a_stale_end_after_stop_is_ignored():
    s = session_in(Phase.RUNNING, recording=True)
    s.stop()
    assert s.source_ended() == () and s.phase is Phase.READY


def test_the_end_of_an_earlier_runner_does_not_stop_the_next_one():
    s = session_in(Phase.RUNNING)
    old = s.run_id
    s.stop()
    assert s.start() == (O,)  # a new runner, with its own number
    s.runner_started()
    assert s.run_id == old + 1
    assert s.source_ended(old) == () and s.phase is Phase.RUNNING  # queued before the Stop: ignored
    assert s.source_ended(s.run_id) == (SRUN,) and s.phase is Phase.READY


def test_a_start_queued_while_building_opens_a_numbered_runner():
    s = Session(model_ref="m")
    s.start()
    assert s.pipeline_built("m") == (O,) and s.run_id == 1 and s.phase is Phase.STARTING


# ---------------------------------------------------------------------- model
def test_model_built_is_the_one_the_engine_reports():
    s = Session(model_ref=None)
    s.start()
    s.pipeline_built("default_net")
    assert s.model_ref == s.loaded_model_ref == "default_net"
    s2 = Session(model_ref="/path/to/model")
    s2.start()
    s2.pipeline_built(None)  # an engine without a ref keeps the one asked for
    assert s2.model_ref == s2.loaded_model_ref == "/path/to/model"


def test_model_pick_before_any_build_is_used_to_build():
    s = Session(model_ref="a")
    assert s.pick_model("b") is False
    assert s.model_ref == "b" and s.model_pick is None
    assert s.pick_model(None) is False and s.pick_model("b") is False  # a header / the same one


def test_model_pick_while_building_loads_after_the_build_before_the_queued_start():
    s = Session(model_ref="a")
    s.start()
    assert s.pick_model("b") is False
    assert s.model_ref == "a" and s.model_pick == "b"
    assert s.pipeline_built("a") == (L, O)
    assert s.model_pick == "b"  # LOAD_MODEL reads it ...
    s.model_load_started("b")
    assert s.model_pick is None and s.model_loading == "b"  # ... and loading it clears it
    s.model_loaded("b")
    assert s.model_ref == s.loaded_model_ref == "b" and s.model_loading is None


def test_model_pick_while_building_that_equals_the_built_model_loads_nothing():
    s = Session(model_ref="a")
    s.start()
    s.pick_model("b")
    assert s.pipeline_built("b") == (O,) and s.model_pick is None


def test_model_pick_with_a_pipeline_loads_now_and_a_failure_keeps_the_model_in_use():
    s = session_in(Phase.RUNNING)
    assert s.pick_model("b") is True
    s.model_load_started("b")
    s.model_load_failed()
    assert s.model_ref == s.loaded_model_ref == "m" and s.model_loading is None


def test_request_model_without_a_pipeline_sets_the_one_to_build():
    s = Session(model_ref="m")
    assert s.request_model("b") is False and s.model_ref == "b"
    s2 = session_in(Phase.READY)
    assert s2.request_model("b") is True and s2.model_ref == "m"


def test_set_model_while_building_is_loaded_after_the_build_not_overwritten_by_it():
    s = session_in(Phase.BUILDING)
    assert s.request_model("b") is False and s.model_ref == "m" and s.model_pick == "b"
    acts = s.pipeline_built("m")  # the build loaded the model it started with
    assert L in acts and s.model_pick == "b"
    assert s.request_model(s.model_pick) is True  # the window's LOAD_MODEL: set_model(model_pick)
    s.model_load_started("b")
    s.model_loaded("b")
    assert s.model_ref == s.loaded_model_ref == "b" and s.model_pick is None


# ---------------------------------------------------------------------- no face found
def test_no_face_notice_after_two_seconds_of_faceless_frames_and_gone_with_a_face():
    clock = Clock(10.0)
    s = session_in(Phase.RUNNING, clock=clock)
    assert s.faces_processed(False) is None
    clock.t = 11.9
    assert s.faces_processed(False) is None
    clock.t = 12.0
    assert s.faces_processed(False) is True and s.faces.shown
    clock.t = 13.0
    assert s.faces_processed(False) is None  # shown once
    assert s.faces_processed(True) is False and not s.faces.shown
    assert s.faces_processed(True) is None


def test_pause_time_is_not_time_without_a_face_and_stop_takes_the_notice_down():
    clock = Clock(0.0)
    s = session_in(Phase.RUNNING, clock=clock)
    clock.t = 1.5
    s.pause()
    clock.t = 60.0
    s.resume()
    clock.t = 61.0
    assert s.faces_processed(False) is None
    clock.t = 62.0
    assert s.faces_processed(False) is True
    s.stop()
    assert not s.faces.shown
    s.start()
    s.runner_started()
    assert s.faces.last_face_t == 62.0 and not s.faces.shown


def test_face_watch_starts_its_clock_at_the_first_frames_when_never_restarted():
    w = FaceWatch(after_s=2.0)
    assert w.update(False, 5.0) is None and w.last_face_t == 5.0
    assert w.update(False, 7.0) is True


# ---------------------------------------------------------------------- source policy
def test_camera_specs():
    assert is_camera_spec("0") and is_camera_spec(" 12 ")
    assert not is_camera_spec("demo") and not is_camera_spec("/v/0.mp4") and not is_camera_spec("")


def test_initial_source_order():
    nothing_exists = lambda p: False  # noqa: E731
    assert initial_source("clip.mp4", "demo:2", [0]) == ("clip.mp4", False)  # given wins
    assert initial_source("7", "", []) == ("7", False)  # even a camera that is not there (start falls back)
    assert initial_source(None, "demo:4", [0], nothing_exists) == ("demo:4", False)
    assert initial_source(None, "/v/clip.mp4", [0], lambda p: p == "/v/clip.mp4") == ("/v/clip.mp4", False)
    assert initial_source(None, "/v/gone.mp4", [3, 1], nothing_exists) == ("3", False)
    assert initial_source(None, "1", [0, 1]) == ("1", False)  # a camera still connected
    assert initial_source(None, "2", [0, 1]) == ("0", False)  # unplugged since: the first camera
    assert initial_source(None, None, [5]) == ("5", False)


def test_initial_source_without_a_camera_is_the_demo_and_says_so():
    assert initial_source(None, "", []) == ("demo", True)
    assert initial_source(None, "0", [], lambda p: True) == ("demo", True)
    assert initial_source(None, "/v/gone.mp4", [], lambda p: False) == ("demo", True)
    assert initial_source(None, "demo:2", []) == ("demo:2", False)  # a remembered demo is no fallback


def test_only_a_camera_falls_back_to_the_demo():
    assert camera_fallback("0") == "demo" and camera_fallback("3") == "demo"
    assert camera_fallback("demo") is None and camera_fallback("/v/clip.mp4") is None

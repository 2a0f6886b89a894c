"""The desktop session's state, Qt-free: what the main window is doing and what it must do next.

``Session`` is an explicit state machine over :class:`Phase`. The window reports events by
calling its methods (``start``, ``pipeline_built``, ``stop``, ``source_ended``, ``close``, ...);
each returns the :class:`Act` s the window must carry out, in order, and the window then draws
its controls from the machine's state. The machine never touches a widget, a thread or a file.

Phases::

    IDLE --start--> BUILDING --pipeline_built--> READY --start--> STARTING --runner_started--> RUNNING
      ^                |  (a start queued while          ^            |                         |  ^
      +-pipeline_failed+   building opens at once)       +-runner_failed                  pause |  | resume
                                                         +--- stop / source_ended ------ RUNNING / PAUSED
    any phase --close--> CLOSED (terminal)

Orthogonal to the phase: ``recording`` (the timeline recorder is writing), the model in use /
being loaded, and the "no face found" watch (:class:`FaceWatch`).

Invalid events are handled in one defined way. Events that can legitimately race or repeat
(a second Start, Stop while nothing runs, Pause on a source that cannot pause, a queued end of
stream after Stop, a build finishing after Close) are *ignored*: the call returns no acts and
changes nothing. Events only a window bug can produce (a built pipeline nobody asked for, a
runner that started without ``OPEN_RUNNER``) raise :class:`SessionError`.

Also here: the *source policy* (which source a new window opens, and where a failing camera
falls back to), as plain functions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from enum import Enum
from pathlib import Path

__all__ = [
    "Act",
    "DEMO_SOURCE",
    "FaceWatch",
    "Phase",
    "Session",
    "SessionError",
    "camera_fallback",
    "initial_source",
    "is_camera_spec",
]

NO_FACE_AFTER_S = 2.0
DEMO_SOURCE = "demo"


class Phase(Enum):
    IDLE = "idle"  # no pipeline yet, nothing running
    BUILDING = "building"  # the pipeline (model + detector) is being built in the background
    READY = "ready"  # a pipeline, capture stopped
    STARTING = "starting"  # OPEN_RUNNER handed to the window; it answers runner_started / runner_failed
    RUNNING = "running"
    PAUSED = "paused"
    CLOSED = "closed"  # the window closed: terminal, every later event is ignored


class Act(Enum):
    """What the window must do, in the order a method returns them."""

    BUILD_PIPELINE = "build the pipeline in the background"
    OPEN_RUNNER = "open the source and start capture + inference"
    STOP_RECORDING = "stop the recording (its files are finalised and kept)"
    STOP_RUNNER = "stop capture + inference"
    PAUSE_RUNNER = "pause the source"
    RESUME_RUNNER = "resume the source"
    LOAD_MODEL = "load Session.model_pick (picked while the pipeline was building)"


class SessionError(RuntimeError):
    """An event that no correct window sends in the current phase."""


_LIVE = (Phase.RUNNING, Phase.PAUSED)


class FaceWatch:
    """'No face found' after ``after_s`` seconds of processed frames without a face."""

    def __init__(self, after_s: float = NO_FACE_AFTER_S):
        self.after_s = float(after_s)
        self.last_face_t: float | None = None  # when a face was last seen (None: not yet)
        self.shown = False  # the notice is up

    def restart(self, now: float) -> None:
        """Capture (re)started: the clock starts again and the notice is down."""
        self.last_face_t = now
        self.shown = False

    def update(self, any_face: bool, now: float) -> bool | None:
        """Frames were processed. True: show the notice now; False: take it down; None: no change."""
        if any_face:
            self.last_face_t = now
            if self.shown:
                self.shown = False
                return False
            return None
        if self.last_face_t is None:
            self.last_face_t = now
        if not self.shown and now - self.last_face_t >= self.after_s:
            self.shown = True
            return True
        return None


class Session:
    """The main window's session state (see the module docstring for phases and events)."""

    def __init__(
        self,
        model_ref: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        no_face_after_s: float = NO_FACE_AFTER_S,
    ):
        self.clock = clock
        self.phase = Phase.IDLE
        self.has_pipeline = False
        self.start_queued = False  # Start was asked for while the pipeline builds
        self.can_pause = False  # the running source can pause
        self.recording = False
        self.model_ref = model_ref  # the model in use, or the one the pipeline will be built with
        self.loaded_model_ref: str | None = None  # the last model that really loaded
        self.model_loading: str | None = None  # a model being loaded into the running pipeline
        self.model_pick: str | None = None  # picked in the dropdown while the pipeline was building
        self.run_id = 0  # the runner OPEN_RUNNER asks for: its end-of-source reports carry this number
        self.faces = FaceWatch(no_face_after_s)

    # ------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        """Capture is on (running or paused)."""
        return self.phase in _LIVE

    @property
    def paused(self) -> bool:
        return self.phase is Phase.PAUSED

    @property
    def building(self) -> bool:
        return self.phase is Phase.BUILDING

    @property
    def closed(self) -> bool:
        return self.phase is Phase.CLOSED

    @property
    def start_pending(self) -> bool:
        """Start was pressed and capture is not on yet (the pipeline builds, or the source opens)."""
        return (self.phase is Phase.BUILDING and self.start_queued) or self.phase is Phase.STARTING

    def _refuse(self, event: str) -> SessionError:
        return SessionError(f"{event} while {self.phase.value}")

    # ------------------------------------------------------------------ run control
    def start(self) -> tuple[Act, ...]:
        """Start requested. Without a pipeline it is built first and the start is queued."""
        if self.phase is Phase.IDLE:
            self.phase, self.start_queued = Phase.BUILDING, True
            return (Act.BUILD_PIPELINE,)
        if self.phase is Phase.BUILDING:
            self.start_queued = True  # (again, after a Stop had cancelled it)
            return ()
        if self.phase is Phase.READY:
            return (self._open(),)
        return ()  # already starting / running / paused, or closed: ignored

    def pipeline_built(self, engine_ref: str | None = None) -> tuple[Act, ...]:
        """The background build finished; ``engine_ref`` is the model it really loaded."""
        if self.phase is Phase.CLOSED:
            return ()  # finished after Close: the window must not use it
        if self.phase is not Phase.BUILDING:
            raise self._refuse("pipeline built")
        self.phase, self.has_pipeline = Phase.READY, True
        self.model_ref = engine_ref or self.model_ref
        self.loaded_model_ref = self.model_ref
        acts: list[Act] = []
        if self.model_pick is not None and self.model_pick != self.model_ref:
            acts.append(Act.LOAD_MODEL)
        else:
            self.model_pick = None
        if self.start_queued:
            self.start_queued = False
            acts.append(self._open())
        return tuple(acts)

    def _open(self) -> Act:
        self.phase, self.run_id = Phase.STARTING, self.run_id + 1
        return Act.OPEN_RUNNER

    def pipeline_failed(self) -> tuple[Act, ...]:
        """The background build failed: back to IDLE, the queued start is dropped."""
        if self.phase is Phase.CLOSED:
            return ()
        if self.phase is not Phase.BUILDING:
            raise self._refuse("pipeline failed")
        self.phase, self.start_queued = Phase.IDLE, False
        return ()

    def runner_started(self, can_pause: bool = False) -> None:
        """The answer to OPEN_RUNNER: capture is on."""
        if self.phase is not Phase.STARTING:
            raise self._refuse("runner started")
        self.phase, self.can_pause = Phase.RUNNING, bool(can_pause)
        self.faces.restart(self.clock())

    def runner_failed(self) -> None:
        """The answer to OPEN_RUNNER: the source could not be opened (the pipeline is kept)."""
        if self.phase is not Phase.STARTING:
            raise self._refuse("runner failed")
        self.phase = Phase.READY

    def stop(self) -> tuple[Act, ...]:
        """Stop requested: a queued start is cancelled, a recording is stopped first."""
        if self.phase is Phase.CLOSED:
            return ()
        self.start_queued = False
        return self._wind_down(Phase.READY if self.running else self.phase)

    def source_ended(self, run_id: int | None = None) -> tuple[Act, ...]:
        """A file source played to its end. The recording is stopped (its files are kept).
        ``run_id`` is the runner's (``self.run_id`` when it was opened): the end of an earlier
        runner, queued before a Stop and a new Start, must not stop the new one."""
        if not self.running or (run_id is not None and run_id != self.run_id):
            return ()  # an end that was queued before a Stop (and maybe a new Start): ignored
        return self._wind_down(Phase.READY)

    def close(self) -> tuple[Act, ...]:
        """The window closes: the recording is stopped first, then capture; terminal."""
        if self.phase is Phase.CLOSED:
            return ()
        self.start_queued = False
        return self._wind_down(Phase.CLOSED)

    def _wind_down(self, phase: Phase) -> tuple[Act, ...]:
        acts = []
        if self.recording:
            self.recording = False
            acts.append(Act.STOP_RECORDING)
        if self.running:
            acts.append(Act.STOP_RUNNER)
        self.phase = phase
        if phase is not Phase.RUNNING:
            self.can_pause = False
        self.faces.shown = False
        return tuple(acts)

    def pause(self) -> tuple[Act, ...]:
        if self.phase is Phase.RUNNING and self.can_pause:
            self.phase = Phase.PAUSED
            return (Act.PAUSE_RUNNER,)
        return ()

    def resume(self) -> tuple[Act, ...]:
        if self.phase is Phase.PAUSED:
            self.phase = Phase.RUNNING
            self.faces.last_face_t = self.clock()  # the pause is not time without a face
            return (Act.RESUME_RUNNER,)
        return ()

    # ------------------------------------------------------------------ recording (orthogonal)
    def recording_started(self) -> None:
        if self.phase is Phase.CLOSED:
            raise self._refuse("recording started")
        self.recording = True

    def recording_stopped(self) -> None:
        """Stopped by the user, or by the recorder itself after a disk error."""
        self.recording = False

    # ------------------------------------------------------------------ model (orthogonal)
    def pick_model(self, ref: str | None) -> bool:
        """The model dropdown changed: a header (None) or the model in use asks for nothing;
        any other model is asked for as with :meth:`request_model`."""
        if ref is None or ref == self.model_ref:
            return False
        return self.request_model(ref)

    def request_model(self, ref: str) -> bool:
        """``set_model(ref)``. True: load it now. Before any build it becomes the one to build;
        while the pipeline builds it waits for it (LOAD_MODEL from pipeline_built), so the model
        the build loads does not overwrite it."""
        if not self.has_pipeline:
            if self.phase is Phase.BUILDING:
                self.model_pick = ref
            else:
                self.model_ref = ref
            return False
        return True

    def model_load_started(self, ref: str) -> None:
        self.model_loading, self.model_pick = ref, None

    def model_loaded(self, ref: str) -> None:
        self.model_loading = None
        self.model_ref = self.loaded_model_ref = ref

    def model_load_failed(self) -> None:
        self.model_loading = None  # model_ref stays the one in use

    # ------------------------------------------------------------------ faces
    def faces_processed(self, any_face: bool) -> bool | None:
        """New results arrived (see FaceWatch.update)."""
        return self.faces.update(any_face, self.clock())


# ====================================================================== source policy
def is_camera_spec(spec: str) -> bool:
    return spec.strip().isdigit()


def initial_source(
    requested: str | None,
    remembered: str | None,
    cameras: Iterable[int],
    exists: Callable[[str], bool] = lambda p: Path(p).exists(),
) -> tuple[str, bool]:
    """The source a new window opens, and whether that is the demo because no camera was found.

    The given spec wins; then the remembered one if it is still there (a demo, an existing file
    or folder, a camera that is still connected); then the first camera; then the demo."""
    if requested:
        return requested, False
    remembered = str(remembered or "")
    cams = list(cameras)
    if (
        remembered
        and not is_camera_spec(remembered)
        and (remembered.startswith(DEMO_SOURCE) or exists(remembered))
    ):
        return remembered, False
    if remembered and is_camera_spec(remembered) and int(remembered) in cams:
        return remembered, False
    if cams:
        return str(cams[0]), False
    return DEMO_SOURCE, True


def camera_fallback(spec: str) -> str | None:
    """Where a source that failed to open falls back to: a camera to the demo, anything else nowhere."""
    return DEMO_SOURCE if is_camera_spec(spec) else None

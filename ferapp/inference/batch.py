"""``run_analysis``: one source -> timeline (+ driver events, + annotated MP4), the engine of
``ferapp analyze`` and of the window's File > Analyze video or folder… (Qt-free).

Every check that can fail runs before the first frame (source, model, outputs: every output is
claimed before any is created); the outputs follow ``ferapp.record.output`` (never an input,
compared with the source as it was opened, never over an existing file unless ``overwrite``);
the timeline is finalised however the run ends, or, with ``atomic`` (batch analysis), appears
under its name only when complete. Progress and cancel are plain callbacks, so the CLI drives
a tqdm bar and the GUI a progress dialog from a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferapp.config import settings
from ferapp.inference.analyze import AnalyzeSummary, analyze, default_out_path, no_face_hint


class AnalysisError(Exception):
    """A run could not start or had to stop; ``code`` is the CLI exit status (2 input, 3 output)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


@dataclass
class AnalysisRequest:
    """One analysis; the detector, min face, smoothing and device default to the settings'
    (``ferapp.config``; smoothing: a file analysis', the raw numbers)."""

    source: str
    out: str | Path | None = None  # default: <source name>_<date-time>.csv in ``out_dir``
    out_dir: str | Path | None = None
    model: str | None = None
    detector: str = field(default_factory=lambda: settings().detection.detector)
    min_face: float = field(default_factory=lambda: settings().detection.min_face)
    smoothing: float = field(default_factory=lambda: settings().inference.smoothing(live=False))
    every: int = 1
    max_frames: int | None = None
    device: str = field(default_factory=lambda: settings().inference.device)
    driver: bool = False
    video_out: str | Path | None = None
    overwrite: bool = False
    atomic: bool = False  # the timeline appears under ``out`` only complete (stopped early: nothing)


@dataclass
class AnalysisResult:
    summary: AnalyzeSummary
    out: Path
    rows: int
    model: str
    trained: bool
    interrupted: bool = False
    events_path: Path | None = None
    events: list = field(default_factory=list)
    video_out: Path | None = None
    video_frames: int = 0
    hint: str | None = None  # what to tell a user whose run found no face
    total_frames: int | None = None
    warnings: list[str] = field(default_factory=list)  # e.g. a truncated video


class _Tee:
    def __init__(self, *sinks):
        self.sinks = sinks

    def write(self, result) -> None:
        for s in self.sinks:
            s.write(result)


def _model_name_warning(pipeline) -> str | None:
    if pipeline.engine is not None and not pipeline.engine.trained:
        return (
            f"model '{pipeline.engine.name}' has no trained weights; predictions are random. "
            "Train one with `ferapp train` or pick a shipped model (`ferapp models`)."
        )
    return None


def truncation_warning(source, frames_read: int, max_frames: int | None) -> str | None:
    """A video file that ends long before the frame count in its header is truncated or
    damaged (the count of some containers is an estimate: a frame or 2% short is normal)."""
    expected = int(getattr(source, "frame_count", 0) or 0)
    if getattr(source, "kind", "") != "video" or expected <= 0:
        return None
    if max_frames:
        expected = min(expected, int(max_frames))
    if frames_read >= expected - max(2, expected // 50):
        return None
    return (
        f"only {frames_read} of the {expected} frames announced by '{source.name}' could be read: "
        "the file is truncated or damaged (the timeline covers what was read)"
    )


def _inputs_of(req: AnalysisRequest, source) -> list:
    """The files this run reads, as opened: an output is compared with these (path and inode)."""
    from ferapp.record.output import InputFile, input_file

    inputs = []
    if getattr(source, "path", None) is not None:
        inputs.append(InputFile(source.path))
    for spelled in (req.source, req.model):
        if spelled:
            f = input_file(spelled)
            if f.inode is not None:
                inputs.append(f)
    return inputs


@dataclass
class _Opened:
    """What a run opened (timeline writer, annotated video, driver monitor), released by
    :func:`_release` however the run ends."""

    writer: Any = None
    video: Any = None
    monitor: Any = None


def run_analysis(
    req: AnalysisRequest,
    on_progress: Callable[[int, int | None], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_warning: Callable[[str], None] | None = None,
    on_start: Callable[[AnalysisResult], None] | None = None,
    pipeline=None,
) -> AnalysisResult:
    """Analyse ``req.source`` frame by frame into a timeline. Raises AnalysisError.

    ``pipeline``: a Pipeline built with ``req``'s settings to reuse (batch workers); it is reset
    before the run and left open."""
    from ferapp.capture import SourceError, open_source

    warn = on_warning or (lambda _m: None)
    try:
        source = open_source(req.source, realtime=False)
    except (SourceError, ValueError) as e:
        raise AnalysisError(str(e)) from None
    own_pipeline = pipeline is None
    run = _Opened()
    try:
        pipeline = _prepare_pipeline(req, pipeline)
        w = _model_name_warning(pipeline)
        if w:
            warn(w)
        if req.driver:
            from ferapp.monitor import DriverMonitor

            run.monitor = DriverMonitor()
            pipeline.add_postprocessor(run.monitor.process)
        out = _out_path(req)
        _open_outputs(run, req, source, pipeline, out)
        total = _total_frames(req, source)
        res = AnalysisResult(
            AnalyzeSummary(),
            out,
            0,
            pipeline.model_name,
            pipeline.engine is None or pipeline.engine.trained,
            video_out=Path(req.video_out) if req.video_out else None,
            total_frames=total,
        )
        if on_start is not None:
            on_start(res)
        res.summary = _analyze_into(run, req, source, pipeline, total, on_progress, should_stop)
        res.interrupted = bool(should_stop and should_stop())
        if res.interrupted and req.atomic:  # an unfinished batch timeline is not kept (the finally)
            return res
        trunc = None if res.interrupted else truncation_warning(source, res.summary.frames, req.max_frames)
        if trunc:
            res.warnings.append(trunc)
            warn(trunc)
        _close_outputs(run, res)
        res.hint = no_face_hint(res.summary, req.min_face, getattr(pipeline.finder, "detector", None))
        return res
    finally:
        _release(run, req, pipeline, own_pipeline)
        source.close()


def _prepare_pipeline(req: AnalysisRequest, pipeline):
    """A new Pipeline with ``req``'s settings, or the given one reset."""
    from ferapp.inference.pipeline import Pipeline

    if pipeline is not None:
        pipeline.reset()
        return pipeline
    try:
        return Pipeline(
            detector=req.detector,
            model=req.model,
            device=req.device,
            smoothing=req.smoothing,
            min_face=req.min_face,
        )
    except (KeyError, ValueError, RuntimeError, OSError) as e:
        raise AnalysisError(str(e.args[0] if isinstance(e, KeyError) and e.args else e)) from None


def _out_path(req: AnalysisRequest) -> Path:
    if req.out:
        return Path(req.out)
    out = default_out_path(req.source)
    return Path(req.out_dir) / out.name if req.out_dir else out


def _total_frames(req: AnalysisRequest, source) -> int | None:
    total = req.max_frames
    n = getattr(source, "frame_count", None)
    if n:
        total = min(n, total) if total else n
    return total


def _open_outputs(run: _Opened, req: AnalysisRequest, source, pipeline, out: Path) -> None:
    """Claim the annotated video (creates nothing until its first frame), then the timeline."""
    from ferapp.record.metadata import run_metadata
    from ferapp.record.output import OutputError
    from ferapp.record.timeline import TimelineError, TimelineWriter

    extra: tuple = ()
    if run.monitor is not None:
        from ferapp.monitor.events import DRIVER_COLUMNS

        extra = DRIVER_COLUMNS
    meta = run_metadata(
        source=source.name,
        model=pipeline.model_name,
        model_source=pipeline.model_source,
        detector=req.detector,
        min_face=req.min_face,
        fps=getattr(source, "fps", None),
        smoothing=req.smoothing,
        every=req.every,
        driver=req.driver,
    )
    inputs = _inputs_of(req, source)
    if req.video_out:
        from ferapp.record.video import AnnotatedVideoWriter

        try:
            run.video = AnnotatedVideoWriter(
                req.video_out,
                getattr(source, "fps", None) or settings().recording.fallback_fps,
                overwrite=req.overwrite,
                inputs=inputs + [str(out)],
            )
        except OutputError as e:
            raise AnalysisError(str(e)) from None
    try:
        run.writer = TimelineWriter(
            out,
            meta,
            extra_columns=extra,
            overwrite=req.overwrite,
            inputs=inputs + ([str(req.video_out)] if req.video_out else []),
            temp=req.atomic,
        )
    except TimelineError as e:
        raise AnalysisError(str(e), code=3 if str(e).startswith("Cannot write") else 2) from None


def _analyze_into(
    run: _Opened, req: AnalysisRequest, source, pipeline, total: int | None, on_progress, should_stop
) -> AnalyzeSummary:
    from ferapp.record.output import OutputError
    from ferapp.record.timeline import TimelineError

    sink = run.writer if run.video is None else _Tee(run.writer, run.video)
    try:
        return analyze(
            source,
            pipeline,
            sink,
            max_frames=req.max_frames,
            every=req.every,
            on_progress=(lambda i: on_progress(i, total)) if on_progress else None,
            should_stop=should_stop,
        )
    except (TimelineError, OutputError) as e:
        raise AnalysisError(str(e), code=3) from None
    except ValueError as e:  # e.g. a model whose output is not a probability distribution
        if not req.atomic:
            run.writer.close(frames_read=0, error=str(e))
        raise AnalysisError(str(e)) from None


def _close_outputs(run: _Opened, res: AnalysisResult) -> None:
    """Write the driver events, finalise the timeline and the video; errors exit 3."""
    from ferapp.record.output import OutputError
    from ferapp.record.timeline import TimelineError, events_path

    summary, writer = res.summary, run.writer
    try:
        if run.monitor is not None:
            from ferapp.monitor.events import write_events_csv

            res.events = list(run.monitor.finish())
            res.events_path = events_path(res.out)
            write_events_csv(res.events_path, res.events)
            summary.events = res.events
        writer.close(
            frames_read=summary.frames,
            processed=summary.processed,
            frames_with_face=summary.frames_with_face,
            face_ids=len(summary.face_ids),
            dominant=summary.dominant(),
            **({"interrupted": True} if res.interrupted else {}),
            **({"warnings": res.warnings} if res.warnings else {}),
        )
        res.rows = writer.rows
        if run.video is not None:
            written = run.video.close()
            res.video_frames = run.video.frames
            run.video = None
            if written is None:
                res.video_out = None
    except TimelineError as e:  # e.g. the output folder was removed while the run wrote to it
        raise AnalysisError(str(e), code=3) from None
    except OSError as e:
        raise AnalysisError(
            f"Cannot write '{getattr(e, 'filename', None) or res.out}': {e.strerror or e}", code=3
        ) from None
    except OutputError as e:
        raise AnalysisError(str(e), code=3) from None


def _release(run: _Opened, req: AnalysisRequest, pipeline, own_pipeline: bool) -> None:
    """However the run ended: abort an unfinished video, finalise (or, atomic, discard) the
    timeline, detach the monitor and close a pipeline this run built."""
    from ferapp.record.timeline import TimelineError

    if run.video is not None:
        run.video.abort()
    if run.writer is not None and not run.writer.closed:
        if req.atomic:
            run.writer.discard()
        else:
            try:
                run.writer.close(error="stopped")
            except TimelineError:
                pass
    if pipeline is not None:
        if run.monitor is not None:
            pipeline.remove_postprocessor(run.monitor.process)
        if own_pipeline:
            pipeline.close()

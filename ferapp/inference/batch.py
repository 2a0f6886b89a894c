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

from ferapp.config import DEFAULT_DETECTOR, DEFAULT_MIN_FACE
from ferapp.inference.analyze import AnalyzeSummary, analyze, default_out_path, no_face_hint


class AnalysisError(Exception):
    """A run could not start or had to stop; ``code`` is the CLI exit status (2 input, 3 output)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


@dataclass
class AnalysisRequest:
    source: str
    out: str | Path | None = None  # default: <source name>_<date-time>.csv in ``out_dir``
    out_dir: str | Path | None = None
    model: str | None = None
    detector: str = DEFAULT_DETECTOR
    min_face: float = DEFAULT_MIN_FACE
    smoothing: float = 0.0
    every: int = 1
    max_frames: int | None = None
    device: str = "auto"
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
        return (f"model '{pipeline.engine.name}' has no trained weights; predictions are random. "
                "Train one with `ferapp train` or pick a shipped model (`ferapp models`).")
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
    return (f"only {frames_read} of the {expected} frames announced by '{source.name}' could be read: "
            "the file is truncated or damaged (the timeline covers what was read)")


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


def run_analysis(req: AnalysisRequest, on_progress: Callable[[int, int | None], None] | None = None,
                 should_stop: Callable[[], bool] | None = None,
                 on_warning: Callable[[str], None] | None = None,
                 on_start: Callable[[AnalysisResult], None] | None = None,
                 pipeline=None) -> AnalysisResult:
    """Analyse ``req.source`` frame by frame into a timeline. Raises AnalysisError.

    ``pipeline``: a Pipeline built with ``req``'s settings to reuse (batch workers); it is reset
    before the run and left open."""
    from ferapp.capture import SourceError, open_source
    from ferapp.inference.pipeline import Pipeline
    from ferapp.record.metadata import run_metadata
    from ferapp.record.output import OutputError
    from ferapp.record.timeline import TimelineError, TimelineWriter, events_path

    warn = on_warning or (lambda _m: None)
    try:
        source = open_source(req.source, realtime=False)
    except (SourceError, ValueError) as e:
        raise AnalysisError(str(e)) from None
    own_pipeline = pipeline is None
    writer = video = monitor = None
    try:
        if pipeline is None:
            try:
                pipeline = Pipeline(detector=req.detector, model=req.model, device=req.device,
                                    smoothing=req.smoothing, min_face=req.min_face)
            except (KeyError, ValueError, RuntimeError, OSError) as e:
                raise AnalysisError(str(e.args[0] if isinstance(e, KeyError) and e.args else e)) from None
        else:
            pipeline.reset()
        w = _model_name_warning(pipeline)
        if w:
            warn(w)
        extra = ()
        if req.driver:
            from ferapp.monitor import DriverMonitor
            from ferapp.monitor.events import DRIVER_COLUMNS

            monitor = DriverMonitor()
            pipeline.add_postprocessor(monitor.process)
            extra = DRIVER_COLUMNS
        if req.out:
            out = Path(req.out)
        else:
            out = default_out_path(req.source)
            if req.out_dir:
                out = Path(req.out_dir) / out.name
        meta = run_metadata(source=source.name, model=pipeline.model_name, model_source=pipeline.model_source,
                            detector=req.detector,
                            min_face=req.min_face, fps=getattr(source, "fps", None), smoothing=req.smoothing,
                            every=req.every, driver=req.driver)
        inputs = _inputs_of(req, source)
        if req.video_out:  # claimed first; it creates nothing until its first frame
            from ferapp.record.video import AnnotatedVideoWriter

            try:
                video = AnnotatedVideoWriter(req.video_out, getattr(source, "fps", 30.0) or 30.0,
                                             overwrite=req.overwrite, inputs=inputs + [str(out)])
            except OutputError as e:
                raise AnalysisError(str(e)) from None
        try:
            writer = TimelineWriter(out, meta, extra_columns=extra, overwrite=req.overwrite,
                                    inputs=inputs + ([str(req.video_out)] if req.video_out else []),
                                    temp=req.atomic)
        except TimelineError as e:
            raise AnalysisError(str(e), code=3 if str(e).startswith("Cannot write") else 2) from None
        total = req.max_frames
        n = getattr(source, "frame_count", None)
        if n:
            total = min(n, total) if total else n
        res = AnalysisResult(AnalyzeSummary(), out, 0, pipeline.model_name, pipeline.engine is None or
                             pipeline.engine.trained, video_out=Path(req.video_out) if req.video_out else None,
                             total_frames=total)
        if on_start is not None:
            on_start(res)
        sink = writer if video is None else _Tee(writer, video)
        try:
            summary = analyze(source, pipeline, sink, max_frames=req.max_frames, every=req.every,
                              on_progress=(lambda i: on_progress(i, total)) if on_progress else None,
                              should_stop=should_stop)
        except (TimelineError, OutputError) as e:
            raise AnalysisError(str(e), code=3) from None
        except ValueError as e:  # e.g. a model whose output is not a probability distribution
            if not req.atomic:
                writer.close(frames_read=0, error=str(e))
            raise AnalysisError(str(e)) from None
        res.summary = summary
        res.interrupted = bool(should_stop and should_stop())
        if res.interrupted and req.atomic:  # an unfinished batch timeline is not kept (the finally)
            return res
        trunc = None if res.interrupted else truncation_warning(source, summary.frames, req.max_frames)
        if trunc:
            res.warnings.append(trunc)
            warn(trunc)
        try:
            if monitor is not None:
                from ferapp.monitor.events import write_events_csv

                res.events = list(monitor.finish())
                res.events_path = events_path(out)
                write_events_csv(res.events_path, res.events)
                summary.events = res.events
            writer.close(frames_read=summary.frames, processed=summary.processed,
                         frames_with_face=summary.frames_with_face, face_ids=len(summary.face_ids),
                         dominant=summary.dominant(),
                         **({"interrupted": True} if res.interrupted else {}),
                         **({"warnings": res.warnings} if res.warnings else {}))
            res.rows = writer.rows
            if video is not None:
                written = video.close()
                res.video_frames = video.frames
                video = None
                if written is None:
                    res.video_out = None
        except TimelineError as e:  # e.g. the output folder was removed while the run wrote to it
            raise AnalysisError(str(e), code=3) from None
        except OSError as e:
            raise AnalysisError(f"Cannot write '{getattr(e, 'filename', None) or out}': {e.strerror or e}",
                                code=3) from None
        except OutputError as e:
            raise AnalysisError(str(e), code=3) from None
        res.hint = no_face_hint(summary, req.min_face, getattr(pipeline.finder, "detector", None))
        return res
    finally:
        if video is not None:
            video.abort()
        if writer is not None and not writer.closed:
            if req.atomic:
                writer.discard()
            else:
                try:
                    writer.close(error="stopped")
                except TimelineError:
                    pass
        if pipeline is not None:
            if monitor is not None:
                pipeline.remove_postprocessor(monitor.process)
            if own_pipeline:
                pipeline.close()
        source.close()

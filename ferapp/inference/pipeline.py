"""Synchronous frame pipeline: find faces (tracked) -> align -> classify (one batch) -> smooth.

Qt-free. The runner calls ``process`` from its inference thread; ``ferapp analyze`` and the
benchmark use ``stream`` (by default a frame's classification runs beside the next frame's
tracking when the classifier is onnxruntime's, see ``overlap_pays``).
``set_model`` / ``set_detector`` / ``set_smoothing`` may be called from another thread: the
change takes effect on the next frame.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from ferapp.config import settings
from ferapp.detect.align import align_face, crop_box
from ferapp.detect.base import to_gray
from ferapp.inference.engine import ExpressionEngine
from ferapp.inference.smoothing import EmaSmoother
from ferapp.types import Expression, FaceResult, Frame, FrameResult

log = logging.getLogger(__name__)

PostProcessor = Callable[[FrameResult], FrameResult]


class Pipeline:
    def __init__(
        self,
        detector: str | None = None,
        model: str | ExpressionEngine | None = None,
        device: str | None = None,
        smoothing: float | None = None,
        min_face: float | None = None,
        classify: bool = True,
        threads: int | None = None,
        realtime: bool = False,
        scan_every: int | None = None,
    ):
        """``realtime``: live use (a background face scan is merged as soon as it is done);
        False = batch analysis (merged at a fixed frame delay: results do not depend on timing).
        A setting left at None is ``ferapp.config.settings()``'s; ``smoothing`` then depends on
        the use: a live view's (``realtime``) or a file analysis' (raw)."""
        s = settings()
        self._lock = threading.Lock()
        self.detector_name = s.detection.detector if detector is None else detector
        self.min_face = float(s.detection.min_face if min_face is None else min_face)
        self.realtime = bool(realtime)
        self.scan_every = int(s.tracking.scan_every if scan_every is None else scan_every)
        device = s.inference.device if device is None else device
        smoothing = s.inference.smoothing(live=self.realtime) if smoothing is None else smoothing
        self.finder = self._make_finder(self.detector_name)
        self.device = device
        self.threads = threads
        self.engine: ExpressionEngine | None = None
        if classify:
            self.engine = (
                model
                if isinstance(model, ExpressionEngine)
                else ExpressionEngine(model, device=device, threads=threads)
            )
        self.smoother = EmaSmoother(smoothing)
        self.postprocessors: list[PostProcessor] = []
        self._pending_engine: ExpressionEngine | None = None
        self._pending_finder = None

    # -- live reconfiguration ----------------------------------------------------------------
    @property
    def model_name(self) -> str:
        return self.engine.display_name if self.engine else ""

    @property
    def model_source(self) -> str:
        """Where the model came from: shipped | user | file | architecture ("" without a model)."""
        return self.engine.source if self.engine else ""

    def set_model(self, ref: str | ExpressionEngine) -> ExpressionEngine:
        """Load a model now (raises on failure); it is used from the next frame on."""
        eng = (
            ref
            if isinstance(ref, ExpressionEngine)
            else ExpressionEngine(ref, device=self.device, threads=self.threads)
        )
        with self._lock:
            self._pending_engine = eng
        return eng

    def _make_finder(self, detector: str):
        from ferapp.detect.finder import FaceFinder

        return FaceFinder(
            detector=detector,
            min_face=self.min_face,
            landmarks=True,
            deterministic=not self.realtime,
            scan_every=self.scan_every,
        )

    def set_detector(self, name: str, min_face: float | None = None) -> None:
        """Switch detector and/or smallest face size; takes effect on the next frame."""
        if min_face is not None:
            self.min_face = float(min_face)
        finder = self._make_finder(name)
        with self._lock:
            self._pending_finder = finder
            self.detector_name = name

    def close(self) -> None:
        """Stop the finder's background scan thread."""
        self.finder.close()

    def set_smoothing(self, alpha: float) -> None:
        self.smoother.set_alpha(alpha)

    def add_postprocessor(self, fn: PostProcessor) -> None:
        self.postprocessors.append(fn)

    def remove_postprocessor(self, fn: PostProcessor) -> None:
        if fn in self.postprocessors:
            self.postprocessors.remove(fn)

    def reset(self) -> None:
        self.finder.reset()
        self.smoother.reset()

    def _swap_pending(self) -> bool:
        """Apply a model / detector change; True when the model changed (smoothing restarts)."""
        with self._lock:
            swapped = self._pending_engine is not None
            if swapped:
                self.engine, self._pending_engine = self._pending_engine, None
            if self._pending_finder is not None:
                old, self.finder, self._pending_finder = self.finder, self._pending_finder, None
                old.close()
        return swapped

    # -- processing --------------------------------------------------------------------------
    def crops_for(self, gray: np.ndarray, faces, size: tuple[int, int] | None = None) -> list[np.ndarray]:
        """Crops aligned to ``size`` (H, W; default: the engine's model's ``crop_size``) from the
        frame's grayscale (landmarks when available, else the box). A pipeline without a model
        (``classify=False``) needs ``size``."""
        if size is None:
            if self.engine is None:
                raise ValueError("crops_for: no model loaded; pass the crop size (H, W)")
            size = self.engine.crop_size
        crops = []
        for f in faces:
            if f.landmarks is not None:
                crops.append(align_face(gray, f.landmarks, out_size=size))
            else:
                crops.append(crop_box(gray, f.box, out_size=size))
        return crops

    def _find(self, frame: Frame, source: str) -> _Found:
        """First half of a frame: faces (tracked, or detected afresh on a photo) and their crops."""
        restart = self._swap_pending()
        gray = to_gray(frame.image)  # once per frame: tracking, landmarks and crops all use it
        if frame.still:  # a photo: detected on its own, nothing carried over from the last one
            faces = self.finder.find_still(gray)
            restart = True
        else:
            faces = self.finder.find(frame.image, gray)
        engine = self.engine
        crops = self.crops_for(gray, faces) if faces and engine is not None else []
        return _Found(frame, source, faces, crops, engine, self.detector_name, restart)

    def _classify(self, found: _Found) -> FrameResult:
        """Second half: classify the crops (one batch), smooth, post-process."""
        if found.restart:
            self.smoother.reset()
        engine = found.engine
        if found.crops and engine is not None:  # crops are only made when there is an engine
            probs = engine.classify(found.crops)
            results = tuple(
                FaceResult(f, Expression(self.smoother(f.face_id, p)))
                for f, p in zip(found.faces, probs, strict=True)
            )
        else:
            results = tuple(FaceResult(f, None) for f in found.faces)
        result = FrameResult(
            frame=found.frame,
            faces=results,
            model=engine.display_name if engine else "",
            detector=found.detector,
            source=found.source,
        )
        for post in list(self.postprocessors):
            result = post(result)
        return result

    def process(self, frame: Frame, source: str = "") -> FrameResult:
        return self._classify(self._find(frame, source))

    def overlap_pays(self) -> bool:
        """Whether ``stream`` overlaps by default: the classifier runs in onnxruntime (its whole
        run outside the GIL, in its own thread pool) and there is a second core. Measured on this
        project's quiet 2-core AMD EPYC (AVX2, no AVX-512; book.mkv, the default model, one
        ~70 px face): 108-140 fps overlapped against 96-115 frame after frame in 4 interleaved
        rounds (one ``ferapp bench`` run: 121 against 87), p50 latency 11-18 ms against 8-10.
        With torch's networks it did not pay (60.6-67.3 fps against 64.5-71.6): torch's int8
        modules hold the GIL between operators, and the finder's scan thread shares the cores."""
        return getattr(self.engine, "runtime", "torch") == "onnxruntime" and (os.cpu_count() or 1) >= 2

    def stream(
        self, frames: Iterable[Frame], source: str | Callable[[Frame], str] = "", overlap: bool | None = None
    ) -> Iterator[FrameResult]:
        """``process`` over a stream of frames, results in order and identical to calling
        ``process`` on each frame. With ``overlap`` the classifier of frame n runs on a second
        thread while frame n+1 is tracked and aligned; None (default): ``overlap_pays``.
        ``source``: the rows' source, or a function of the frame."""
        if overlap is None:
            overlap = self.overlap_pays()
        name = source if callable(source) else (lambda _f, s=source: s)
        if not overlap:
            for frame in frames:
                yield self.process(frame, name(frame))
            return
        with ThreadPoolExecutor(1, thread_name_prefix="ferapp-classify") as pool:
            pending: Future | None = None
            try:
                for frame in frames:
                    found = self._find(frame, name(frame))
                    if pending is not None:
                        yield pending.result()
                    pending = pool.submit(self._classify, found)
                if pending is not None:
                    yield pending.result()
                    pending = None
            finally:
                if pending is not None:
                    pending.cancel()


@dataclasses.dataclass
class _Found:
    frame: Frame
    source: str
    faces: list
    crops: list
    engine: ExpressionEngine | None
    detector: str
    restart: bool

"""Synchronous frame pipeline: find faces (tracked) -> align -> classify (one batch) -> smooth.

Qt-free. The runner calls ``process`` from its inference thread; the CLI calls it in a loop.
``set_model`` / ``set_detector`` / ``set_smoothing`` may be called from another thread: the
change takes effect on the next frame.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from ferapp.config import DEFAULT_MIN_FACE
from ferapp.detect.align import align_face, crop_box
from ferapp.detect.base import to_gray
from ferapp.inference.engine import ExpressionEngine
from ferapp.inference.smoothing import EmaSmoother
from ferapp.types import Expression, FaceResult, Frame, FrameResult

log = logging.getLogger(__name__)

PostProcessor = Callable[[FrameResult], FrameResult]


class Pipeline:
    def __init__(self, detector: str = "hog", model: str | ExpressionEngine | None = None,
                 device: str = "auto", smoothing: float = 0.6, min_face: float = DEFAULT_MIN_FACE,
                 classify: bool = True, threads: int | None = None, realtime: bool = False,
                 scan_every: int = 30):
        """``realtime``: live use (a background face scan is merged as soon as it is done);
        False = batch analysis (merged at a fixed frame delay: results do not depend on timing)."""
        self._lock = threading.Lock()
        self.detector_name = detector
        self.min_face = float(min_face)
        self.realtime = bool(realtime)
        self.scan_every = int(scan_every)
        self.finder = self._make_finder(detector)
        self.device = device
        self.threads = threads
        self.engine: ExpressionEngine | None = None
        if classify:
            self.engine = model if isinstance(model, ExpressionEngine) else ExpressionEngine(
                model, device=device, threads=threads)
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
        eng = ref if isinstance(ref, ExpressionEngine) else ExpressionEngine(ref, device=self.device,
                                                                              threads=self.threads)
        with self._lock:
            self._pending_engine = eng
        return eng

    def _make_finder(self, detector: str):
        from ferapp.detect.finder import FaceFinder

        return FaceFinder(detector=detector, min_face=self.min_face, landmarks=True,
                          deterministic=not self.realtime, scan_every=self.scan_every)

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

    def _swap_pending(self) -> None:
        with self._lock:
            if self._pending_engine is not None:
                self.engine, self._pending_engine = self._pending_engine, None
                self.smoother.reset()
            if self._pending_finder is not None:
                old, self.finder, self._pending_finder = self.finder, self._pending_finder, None
                old.close()

    # -- processing --------------------------------------------------------------------------
    def crops_for(self, gray: np.ndarray, faces) -> list[np.ndarray]:
        """Crops aligned to the engine's model's ``crop_size`` from the frame's grayscale (landmarks
        when available, else the box)."""
        size = self.engine.crop_size
        crops = []
        for f in faces:
            if f.landmarks is not None:
                crops.append(align_face(gray, f.landmarks, out_size=size))
            else:
                crops.append(crop_box(gray, f.box, out_size=size))
        return crops

    def process(self, frame: Frame, source: str = "") -> FrameResult:
        self._swap_pending()
        gray = to_gray(frame.image)  # once per frame: tracking, landmarks and crops all use it
        if frame.still:  # a photo: detected on its own, nothing carried over from the last one
            faces = self.finder.find_still(gray)
            self.smoother.reset()
        else:
            faces = self.finder.find(frame.image, gray)
        results: list[FaceResult] = []
        if faces and self.engine is not None:
            probs = self.engine.classify(self.crops_for(gray, faces))
            for f, p in zip(faces, probs, strict=True):
                results.append(FaceResult(f, Expression(self.smoother(f.face_id, p))))
        else:
            results = [FaceResult(f, None) for f in faces]
        result = FrameResult(frame=frame, faces=tuple(results), model=self.model_name,
                             detector=self.detector_name, source=source)
        for post in list(self.postprocessors):
            result = post(result)
        return result

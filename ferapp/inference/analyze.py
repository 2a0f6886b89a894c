"""Batch analysis of a source into a timeline (the engine behind `ferapp analyze`).

Same fast path as live (``Pipeline``), but every frame (or every N-th) is processed in order,
nothing dropped. Qt-free; reused by the benchmark and the soak script.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ferapp.labels import LABELS
from ferapp.types import FrameResult


@dataclass
class AnalyzeSummary:
    frames: int = 0
    processed: int = 0
    faces: int = 0
    face_ids: set[int] = field(default_factory=set)
    frames_with_face: int = 0
    wall_s: float = 0.0
    labels: Counter = field(default_factory=Counter)
    events: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    frame_size: tuple[int, int] | None = None  # (width, height) of the first frame read

    @property
    def fps(self) -> float:
        return self.processed / self.wall_s if self.wall_s > 0 else 0.0

    def share(self) -> dict[str, float]:
        n = sum(self.labels.values())
        return {k: (self.labels[k] / n if n else 0.0) for k in LABELS}

    def dominant(self) -> str:
        """The most frequent expression over all face rows ("" when no face had one)."""
        return max(LABELS, key=lambda k: self.labels[k]) if sum(self.labels.values()) else ""

    def format(self) -> str:
        lines = [
            f"frames read: {self.frames}   processed: {self.processed}   face rows: {self.faces}",
            f"frames with a face: {self.frames_with_face}/{self.processed}"
            f" ({100.0 * self.frames_with_face / max(1, self.processed):.1f}%)   distinct face ids: {len(self.face_ids)}",
            f"throughput: {self.fps:.1f} frames/s over {self.wall_s:.1f} s",
            "expression share: " + "  ".join(f"{k} {100 * v:.1f}%" for k, v in self.share().items()),
        ]
        if self.skipped:
            lines.append(
                f"skipped inputs: {len(self.skipped)} ("
                + "; ".join(f"{a}: {b}" for a, b in self.skipped[:5])
                + ")"
            )
        return "\n".join(lines)


def analyze(
    source,
    pipeline,
    writer=None,
    max_frames: int | None = None,
    every: int = 1,
    on_progress: Callable[[int], None] | None = None,
    on_result: Callable[[FrameResult], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> AnalyzeSummary:
    """Process ``source`` (an opened FrameSource) frame by frame; write rows to ``writer``.
    ``Pipeline.stream`` runs the frames: results in order, one ``process`` call per frame."""
    every = max(1, int(every))
    s = AnalyzeSummary()
    t0 = time.perf_counter()
    name = getattr(source, "name", "")

    def frames():
        while True:
            if max_frames is not None and s.frames >= max_frames:
                return
            if should_stop is not None and should_stop():
                return
            frame = source.read()
            if frame is None:
                return
            s.frames += 1
            if s.frame_size is None:
                s.frame_size = (int(frame.image.shape[1]), int(frame.image.shape[0]))
            if on_progress is not None:
                on_progress(s.frames)
            if (s.frames - 1) % every == 0:
                yield frame

    for result in pipeline.stream(frames(), source=lambda frame: frame_source(name, frame)):
        s.processed += 1
        s.faces += len(result.faces)
        if result.faces:
            s.frames_with_face += 1
        for fr in result.faces:
            s.face_ids.add(fr.face.face_id)
            if fr.expression is not None:
                s.labels[fr.expression.label] += 1
        if writer is not None:
            writer.write(result)
        if on_result is not None:
            on_result(result)
    s.wall_s = time.perf_counter() - t0
    s.skipped = list(getattr(source, "skipped", []) or [])
    return s


def frame_source(source_name: str, frame) -> str:
    """The ``source`` of a frame's rows: the stream's name, or for a photo of a folder its file."""
    if not frame.name:
        return source_name
    if Path(source_name).name == frame.name:
        return source_name
    return str(Path(source_name) / frame.name)


HINT_WORDINGS = ("cli", "gui")
SMALLEST_SUGGESTED_FACE = 12  # px; the GUI's Min face box starts here
ROBUST_DETECTOR = "cnn"  # slower than hog/haar, finds turned and badly lit faces they miss


def no_face_hint(summary: AnalyzeSummary, min_face: float, detector=None, wording: str = "cli") -> str | None:
    """What to tell a user whose run found no face at all (None when faces were found).

    ``wording`` "cli" names ``ferapp analyze``'s flags, "gui" the window's toolbar boxes; a
    detector or face size already in use is never suggested. ``detector`` is the detector's name
    or the pipeline's full-frame detector itself: the object knows the pixel cap of a scan, which
    on large frames raises the smallest face found above ``min_face``; no smaller Min face can go
    below what the cap allows, and the hint then names that real size instead of suggesting one
    that cannot work."""
    import math

    from ferapp.config import settings

    if wording not in HINT_WORDINGS:
        raise ValueError(f"wording must be one of {HINT_WORDINGS}, not {wording!r}")
    if summary.processed == 0 or summary.frames_with_face:
        return None
    gui = wording == "gui"
    name = detector if isinstance(detector, str) or detector is None else getattr(detector, "name", None)
    lowest = settings().detection.min_face_range[0]
    smallest, floor = float(min_face), float(lowest)
    size = summary.frame_size
    if size and hasattr(detector, "effective_min_face"):
        smallest = max(smallest, detector.effective_min_face(*size))
        floor = detector.effective_min_face(*size, min_face=lowest)
    capped = floor >= 0.95 * smallest  # the pixel cap already decides: a smaller Min face changes nothing
    tries = []
    smaller = max(SMALLEST_SUGGESTED_FACE, int(math.ceil(floor)), int(min_face // 2))
    if not capped and smaller < min_face:
        tries.append(
            f"a smaller Min face in the toolbar (e.g. {smaller} px; slower)"
            if gui
            else f"a smaller --min-face (e.g. --min-face {smaller}, slower)"
        )
    tries.append("a brighter source")
    if name != ROBUST_DETECTOR:
        tries.append(
            f"Detector {ROBUST_DETECTOR} in the toolbar (slower, more robust to pose and light)"
            if gui
            else f"--detector {ROBUST_DETECTOR} (slower, more robust to pose and light)"
        )
    advice = tries[0] if len(tries) == 1 else ", ".join(tries[:-1]) + " or " + tries[-1]
    head = (
        f"{'N' if gui else 'n'}o face found in {summary.processed} processed frame(s). Faces smaller than "
        f"{smallest:.0f} px, very dark, strongly turned or covered are not detected"
    )
    if capped and size:  # the detector's pixel cap decides (at the smallest Min face without it: no)
        w, h = size
        knob = "Min face" if gui else "--min-face"
        return (
            f"{head}. On {w}x{h} frames {smallest:.0f} px is the smallest face the scan finds (it is "
            f"capped at {detector.max_pixels / 1e6:g} MP per frame), so a smaller {knob} does not help: "
            f"crop the video to the faces or use a source where they are larger; or try {advice}"
        )
    return f"{head}: try {advice}"


def default_out_path(source_spec: str) -> Path:
    stem = (
        Path(source_spec).stem if source_spec not in ("demo",) and not source_spec.isdigit() else source_spec
    )
    return Path(f"{stem or 'timeline'}_{time.strftime('%Y%m%d-%H%M%S')}.csv")

"""Stable face ids across frames: greedy IoU matching with a centroid-distance fallback."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from ferapp.config import settings
from ferapp.types import Face


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


@dataclasses.dataclass
class _Track:
    face_id: int
    box: tuple[int, int, int, int]
    missed: int = 0


class FaceTracker:
    """``update(faces)`` returns the faces with stable ``face_id``.

    Matching: pairs with IoU >= ``iou_threshold`` greedily, best first; left-overs are paired
    by centroid distance below ``max_distance`` x the track's box size (fast motion / scale
    jumps). Unmatched tracks survive ``max_missed`` updates; unmatched faces get new ids.
    """

    def __init__(
        self,
        iou_threshold: float | None = None,
        max_missed: int | None = None,
        max_distance: float | None = None,
    ):
        """None: the setting's (``ferapp.config``, tracking)."""
        t = settings().tracking
        self.iou_threshold = t.iou_threshold if iou_threshold is None else iou_threshold
        self.max_missed = t.max_missed if max_missed is None else max_missed
        self.max_distance = t.max_distance if max_distance is None else max_distance
        self._tracks: list[_Track] = []
        self._ids = itertools.count()

    @property
    def active_ids(self) -> list[int]:
        return [t.face_id for t in self._tracks]

    def reset(self) -> None:
        self._tracks = []
        self._ids = itertools.count()

    def update(self, faces: list[Face]) -> list[Face]:
        tracks = self._tracks
        assign: dict[int, int] = {}  # face index -> track index
        used: set[int] = set()
        if tracks and faces:
            pairs = sorted(
                ((iou(f.box, t.box), fi, ti) for fi, f in enumerate(faces) for ti, t in enumerate(tracks)),
                reverse=True,
            )
            for score, fi, ti in pairs:
                if score < self.iou_threshold:
                    break
                if fi not in assign and ti not in used:
                    assign[fi] = ti
                    used.add(ti)
            # centroid fallback for what IoU left over
            cands = []
            for fi, f in enumerate(faces):
                if fi in assign:
                    continue
                fc = np.array([f.box[0] + f.box[2] / 2, f.box[1] + f.box[3] / 2])
                for ti, t in enumerate(tracks):
                    if ti in used:
                        continue
                    tc = np.array([t.box[0] + t.box[2] / 2, t.box[1] + t.box[3] / 2])
                    size = max(t.box[2], t.box[3], 1)
                    d = float(np.hypot(*(fc - tc))) / size
                    if d < self.max_distance:
                        cands.append((d, fi, ti))
            for d, fi, ti in sorted(cands):
                if fi not in assign and ti not in used:
                    assign[fi] = ti
                    used.add(ti)
        out = []
        for fi, f in enumerate(faces):
            if fi in assign:
                t = tracks[assign[fi]]
                t.box, t.missed = tuple(f.box), 0
            else:
                t = _Track(next(self._ids), tuple(f.box))
                tracks.append(t)
            out.append(dataclasses.replace(f, face_id=t.face_id))
        matched = {id(tracks[ti]) for ti in assign.values()}
        new_ids = {o.face_id for o in out}
        keep = []
        for t in tracks:
            if t.face_id not in new_ids and id(t) not in matched:
                t.missed += 1
            if t.missed <= self.max_missed:
                keep.append(t)
        self._tracks = keep
        return out

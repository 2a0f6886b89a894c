"""Dataset contract shared by readers, protocols, the trainer and the wizard."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAX_LISTED_SKIPS = 100  # skipped items listed by name; the rest are only counted


class SkipLog:
    """Skipped files or rows: the first ``MAX_LISTED_SKIPS`` kept with their reason, the rest
    only counted, so a file of 20 million bad rows costs a counter, not 20 million tuples."""

    def __init__(self, limit: int = MAX_LISTED_SKIPS):
        self.limit = limit
        self.items: list[tuple[str, str]] = []
        self.count = 0

    def add(self, item: str, reason: str) -> None:
        self.count += 1
        if len(self.items) < self.limit:
            self.items.append((item, reason))

    def extend(self, items: list[tuple[str, str]], count: int | None = None) -> None:
        """Add listed ``items`` standing for ``count`` skips in all (default: as many as listed)."""
        for item, reason in items:
            self.add(item, reason)
        self.count += max(0, (len(items) if count is None else count) - len(items))

    def __len__(self) -> int:
        return self.count


@dataclass
class DatasetReport:
    """What a reader found: shown by the CLI and the training wizard before anything starts."""

    format: str
    path: str
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> label -> count
    num_subjects: int = 0
    warnings: list[str] = field(default_factory=list)  # human-readable (imbalance, missing classes, ...)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file or row, reason): the first few
    skipped_count: int = 0  # every skipped file or row, listed in ``skipped`` or not

    def __post_init__(self) -> None:
        self.skipped_count = max(int(self.skipped_count), len(self.skipped))

    def total(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())


@dataclass
class FaceDataset:
    """Face crops + labels in canonical label indices.

    ``images``: (N, H, W) uint8 grayscale crops (all the same size). Pre-cropped sets keep
    their size (FER2013 48x48); full-size images were detected + aligned by the SAME
    function the live pipeline uses. The trainer resizes to the model input via
    ``ferapp.preprocess.preprocess_face``.
    """

    images: np.ndarray
    labels: np.ndarray  # (N,) int64 index into label_names
    label_names: tuple[str, ...]
    splits: (
        np.ndarray
    )  # (N,) str: dataset's own split ("Training"/"PublicTest"/"PrivateTest", "train"/"test") or ""
    subjects: np.ndarray  # (N,) str subject id or ""
    paths: list[str]  # file path or "row:<i>" per sample
    report: DatasetReport
    fingerprint: str  # content hash (cache keys, checkpoints)
    soft_labels: np.ndarray | None = None  # (N, C) float32 (FER+ votes) or None

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: np.ndarray) -> FaceDataset:
        idx = np.asarray(idx)
        return FaceDataset(
            images=self.images[idx],
            labels=self.labels[idx],
            label_names=self.label_names,
            splits=self.splits[idx],
            subjects=self.subjects[idx],
            paths=[self.paths[i] for i in idx],
            report=self.report,
            fingerprint=self.fingerprint,
            soft_labels=None if self.soft_labels is None else self.soft_labels[idx],
        )

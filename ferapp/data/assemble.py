"""Turning a reader's samples into a :class:`FaceDataset` with a complete report."""

from __future__ import annotations

from collections import Counter

import numpy as np

from ferapp.data.base import DatasetReport, FaceDataset, SkipLog
from ferapp.data.sources import DatasetError, content_hash
from ferapp.labels import LABELS, canonical_label

CONTEMPT = "contempt"
CONTEMPT_NAMES = {"contempt", "contemptuous", "co"}


def label_names_for(keep_contempt: bool) -> tuple[str, ...]:
    return LABELS + (CONTEMPT,) if keep_contempt else LABELS


def resolve_label(name: str, keep_contempt: bool) -> tuple[int | None, str]:
    """Class name/code -> (index into label_names_for(keep_contempt), status).

    status is ``"ok"``, ``"contempt"`` (dropped because keep_contempt is False) or ``"unknown"``.
    """
    key = name.strip().lower()
    if key in CONTEMPT_NAMES:
        return (len(LABELS), "ok") if keep_contempt else (None, "contempt")
    canon = canonical_label(key)
    if canon is None:
        return None, "unknown"
    return LABELS.index(canon), "ok"


class Collector:
    """Accumulates samples, skipped items and warnings while a reader walks its source."""

    def __init__(self, fmt: str, path: str, label_names: tuple[str, ...]):
        self.fmt, self.path, self.label_names = fmt, path, label_names
        self.images: list[np.ndarray] = []
        self.labels: list[int] = []
        self.splits: list[str] = []
        self.subjects: list[str] = []
        self.paths: list[str] = []
        self.warnings: list[str] = []
        self.skipped = SkipLog()
        self.unknown_labels: Counter[str] = Counter()
        self.contempt_dropped = 0

    def add(self, image: np.ndarray, label: int, split: str = "", subject: str = "", path: str = "") -> None:
        self.images.append(image)
        self.labels.append(label)
        self.splits.append(split)
        self.subjects.append(subject)
        self.paths.append(path)

    def skip(self, item: str, reason: str) -> None:
        self.skipped.add(item, reason)

    def unknown(self, label: str, item: str) -> None:
        self.unknown_labels[label] += 1
        self.skip(item, f"unknown label {label!r}")

    def contempt(self, item: str) -> None:
        self.contempt_dropped += 1
        self.skip(item, "contempt dropped (keep_contempt=False)")

    def finish(self, soft_labels: np.ndarray | None = None) -> FaceDataset:
        for lab, n in sorted(self.unknown_labels.items()):
            self.warnings.append(
                f"unknown label {lab!r}: {n} file(s) rejected (not one of {', '.join(self.label_names)})"
            )
        if self.contempt_dropped:
            self.warnings.append(
                f"contempt: {self.contempt_dropped} sample(s) dropped (the models use the seven basic expressions; contempt has no class of its own)"
            )
        if not self.images:
            first = self.skipped.items[0] if self.skipped.items else None
            detail = (
                f"; {self.skipped.count} item(s) skipped, first: {first[0]} ({first[1]})" if first else ""
            )
            raise DatasetError(f"no usable {self.fmt} samples found in {self.path}{detail}")
        images = np.stack(self.images).astype(np.uint8, copy=False)
        labels = np.asarray(self.labels, dtype=np.int64)
        return make_dataset(
            self.fmt,
            self.path,
            images,
            labels,
            self.label_names,
            np.asarray(self.splits, dtype=str),
            np.asarray(self.subjects, dtype=str),
            self.paths,
            self.warnings,
            self.skipped,
            soft_labels,
        )


def make_dataset(
    fmt,
    path,
    images,
    labels,
    label_names,
    splits,
    subjects,
    paths,
    warnings,
    skipped: SkipLog | list[tuple[str, str]],
    soft_labels=None,
) -> FaceDataset:
    counts: dict[str, dict[str, int]] = {}
    for sp in sorted(set(splits.tolist()), key=_split_order):
        sel = labels[splits == sp]
        bc = np.bincount(sel, minlength=len(label_names))
        counts[sp] = {name: int(bc[i]) for i, name in enumerate(label_names)}
    subj = {s for s in subjects.tolist() if s}
    if isinstance(skipped, SkipLog):
        log = skipped
    else:
        log = SkipLog()
        log.extend(list(skipped))
    report = DatasetReport(
        format=fmt,
        path=str(path),
        counts=counts,
        num_subjects=len(subj),
        warnings=list(warnings),
        skipped=list(log.items),
        skipped_count=log.count,
    )
    fp = content_hash(images, labels, np.asarray(label_names))
    ds = FaceDataset(
        images=images,
        labels=labels,
        label_names=tuple(label_names),
        splits=splits,
        subjects=subjects,
        paths=list(paths),
        report=report,
        fingerprint=fp,
        soft_labels=soft_labels,
    )
    from ferapp.data.summary import dataset_warnings

    ds.report.warnings.extend(w for w in dataset_warnings(ds) if w not in ds.report.warnings)
    return ds


_SPLIT_ORDER = {
    "training": 0,
    "train": 0,
    "publictest": 1,
    "val": 1,
    "validation": 1,
    "privatetest": 2,
    "test": 2,
}


def _split_order(s: str) -> tuple[int, str]:
    return (_SPLIT_ORDER.get(s.lower(), 3), s)

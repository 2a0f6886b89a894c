"""Plain-text dataset report (CLI ``ferapp data inspect`` and the training wizard)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ferapp.data.base import FaceDataset

IMBALANCE_RATIO = 10.0


def dataset_warnings(ds: FaceDataset) -> list[str]:
    """Warnings derived from the data itself: missing classes and class imbalance."""
    counts = np.bincount(ds.labels, minlength=len(ds.label_names))
    out = []
    missing = [n for n, c in zip(ds.label_names, counts, strict=True) if c == 0]
    if missing:
        out.append(f"missing classes (no samples): {', '.join(missing)}")
    present = counts[counts > 0]
    if len(present) >= 2 and present.max() / present.min() > IMBALANCE_RATIO:
        big = ds.label_names[int(np.argmax(counts))]
        small = ds.label_names[int(np.argmin(np.where(counts > 0, counts, counts.max() + 1)))]
        out.append(f"class imbalance: {big} ({present.max()}) / {small} ({present.min()}) = "
                   f"{present.max() / present.min():.1f} > {IMBALANCE_RATIO:g}")
    return out


def training_warnings(ds: FaceDataset, max_skipped: int = 3) -> list[str]:
    """Everything the user should know before training on ``ds``: the reader's warnings, the
    data's own (missing classes, imbalance), skipped files (the first ``max_skipped`` named)
    and the protocols that need subject ids when there are none."""
    out = list(ds.report.warnings)
    out += [w for w in dataset_warnings(ds) if w not in out]
    skipped, n = ds.report.skipped, ds.report.skipped_count
    if n:
        shown = ", ".join(f"{Path(p).name} ({why})" for p, why in skipped[:max_skipped])
        more = f" and {n - min(max_skipped, len(skipped))} more" if n > min(max_skipped, len(skipped)) else ""
        out.append(f"{n} file(s) skipped: {shown}{more}")
    if not ds.report.num_subjects:
        out.append("no subject ids: subject-independent protocols (subject-<k>fold, p1-ck, p4) are unavailable")
    return out


def load_hint(message: str) -> str:
    """What to do about a dataset that failed to load with ``message`` (shown under the error)."""
    from ferapp.data import describe_format, list_formats

    formats = "\n".join(f"• {describe_format(f)}" for f in list_formats())
    return ("Pick a folder or .zip with one sub-folder per expression (angry/, happy/, …; CK+48 names such "
            "as anger/ or sadness/ work too), or a FER2013 csv with the columns emotion,pixels,Usage. "
            f"Readable layouts:\n{formats}")


def summarize(ds: FaceDataset, max_skipped: int = 20) -> str:
    r = ds.report
    lines = [f"dataset: {r.path}", f"format: {r.format}",
             f"samples: {len(ds)}   image size: {ds.images.shape[1]}x{ds.images.shape[2]}   "
             f"subjects: {r.num_subjects or 'n/a'}   fingerprint: {ds.fingerprint[:12]}"]
    names = list(ds.label_names)
    splits = list(r.counts) or [""]
    w = max(12, *(len(s) for s in splits))
    head = "split".ljust(w) + "".join(n[:8].rjust(9) for n in names) + "total".rjust(9)
    lines += ["", head, "-" * len(head)]
    for sp in splits:
        c = r.counts.get(sp, {})
        row = [c.get(n, 0) for n in names]
        lines.append((sp or "(none)").ljust(w) + "".join(str(v).rjust(9) for v in row) + str(sum(row)).rjust(9))
    if len(splits) > 1:
        tot = [sum(r.counts[s].get(n, 0) for s in splits) for n in names]
        lines.append("all".ljust(w) + "".join(str(v).rjust(9) for v in tot) + str(sum(tot)).rjust(9))
    warns = list(r.warnings) + [w for w in dataset_warnings(ds) if w not in r.warnings]
    if warns:
        lines += ["", "warnings:"] + [f"  - {x}" for x in warns]
    if r.skipped_count:
        lines += ["", f"skipped: {r.skipped_count}"]
        shown = r.skipped[:max_skipped]
        lines += [f"  {item}: {why}" for item, why in shown]
        if r.skipped_count > len(shown):
            lines.append(f"  ... and {r.skipped_count - len(shown)} more")
    return "\n".join(lines)

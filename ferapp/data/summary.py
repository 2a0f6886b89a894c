"""Plain-text dataset report (CLI ``ferapp data inspect`` and the training wizard)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np

from ferapp.data.base import FaceDataset

IMBALANCE_RATIO = 10.0


def missing_classes(ds: FaceDataset) -> list[str]:
    """The class names that have no image in ``ds``."""
    counts = np.bincount(ds.labels, minlength=len(ds.label_names))
    return [n for n, c in zip(ds.label_names, counts, strict=True) if c == 0]


def _imbalance(ds: FaceDataset) -> tuple[str, int, str, int] | None:
    """(largest class, its count, smallest present class, its count) when their ratio exceeds
    ``IMBALANCE_RATIO``, else None."""
    counts = np.bincount(ds.labels, minlength=len(ds.label_names))
    present = counts[counts > 0]
    if len(present) < 2 or present.max() / present.min() <= IMBALANCE_RATIO:
        return None
    big = ds.label_names[int(np.argmax(counts))]
    small = ds.label_names[int(np.argmin(np.where(counts > 0, counts, counts.max() + 1)))]
    return big, int(present.max()), small, int(present.min())


def dataset_warnings(ds: FaceDataset) -> list[str]:
    """Warnings derived from the data itself: missing classes and class imbalance."""
    out = []
    missing = missing_classes(ds)
    if missing:
        out.append(f"missing classes (no samples): {', '.join(missing)}")
    imb = _imbalance(ds)
    if imb:
        big, nb, small, ns = imb
        out.append(f"class imbalance: {big} ({nb}) / {small} ({ns}) = {nb / ns:.1f} > {IMBALANCE_RATIO:g}")
    return out


def _quoted(names) -> str:
    return ", ".join(f"'{n}'" for n in names)


def class_count_text(ds: FaceDataset) -> str:
    """ "7", or "6 of 7 (no 'neutral' images)" when classes have no image."""
    missing = missing_classes(ds)
    n = len(ds.label_names)
    return f"{n - len(missing)} of {n} (no {_quoted(missing)} images)" if missing else str(n)


_CONTEMPT = re.compile(r"^contempt: (\d+) sample\(s\) dropped")
_CONTEMPT_SKIP = "contempt dropped"


def training_warnings(ds: FaceDataset, max_skipped: int = 3) -> list[str]:
    """Everything the user should know before training on ``ds``, in the wizard's words: the
    reader's warnings, missing classes and imbalance, skipped files (grouped by reason, the
    first ``max_skipped`` named) and the protocols that need subject ids when there are none.
    The reader's own texts for these (``missing classes (no samples): …``, ``contempt dropped
    (keep_contempt=False)``) are replaced by sentences that say what it means for the model."""
    internal = set(dataset_warnings(ds))
    out = []
    for w in ds.report.warnings:
        m = _CONTEMPT.match(w)
        if m:
            out.append(
                f"{m.group(1)} 'contempt' image(s) left out: contempt is not one of the seven expressions "
                "the models recognise"
            )
        elif w not in internal and not w.startswith(("missing classes", "class imbalance")):
            out.append(w)
    missing = missing_classes(ds)
    if missing:
        out.append(
            f"No {_quoted(missing)} images: the model is built without "
            f"{'that class' if len(missing) == 1 else 'those classes'} and will never predict "
            f"{'it' if len(missing) == 1 else 'them'}."
        )
    imb = _imbalance(ds)
    if imb:
        big, nb, small, ns = imb
        out.append(
            f"Unbalanced classes: {nb} '{big}' images but only {ns} '{small}' ({nb / ns:.0f}×); "
            "accuracy will favour the large classes."
        )
    # the reader lists the first few skips by name and counts all; contempt drops are said above
    contempt = sum(int(m.group(1)) for m in map(_CONTEMPT.match, ds.report.warnings) if m)
    skipped = [(p, why) for p, why in ds.report.skipped if not why.startswith(_CONTEMPT_SKIP)]
    n = max(len(skipped), ds.report.skipped_count - contempt)
    if n:
        shown = ", ".join(f"{Path(p).name} ({why})" for p, why in skipped[:max_skipped])
        more = f" and {n - min(max_skipped, len(skipped))} more" if n > min(max_skipped, len(skipped)) else ""
        reasons = Counter(why for _, why in skipped)
        if n > max_skipped and len(reasons) > 1:
            more += " (" + ", ".join(f"{k}× {why}" for why, k in reasons.most_common()) + ")"
        out.append(f"{n} file(s) skipped: {shown}{more}")
    if not ds.report.num_subjects:
        out.append(
            "no subject ids: subject-independent protocols (subject-<k>fold, p1-ck, p4) are unavailable"
        )
    return out


def load_hint(message: str) -> str:
    """What to do about a dataset that failed to load with ``message`` (shown under the error)."""
    from ferapp.data import describe_format, list_formats

    formats = "\n".join(f"• {describe_format(f)}" for f in list_formats())
    return (
        "Pick a folder or .zip with one sub-folder per expression (angry/, happy/, …; CK+48 names such "
        "as anger/ or sadness/ work too), or a FER2013 csv with the columns emotion,pixels,Usage. "
        f"Readable layouts:\n{formats}"
    )


def summarize(ds: FaceDataset, max_skipped: int = 20) -> str:
    r = ds.report
    lines = [
        f"dataset: {r.path}",
        f"format: {r.format}",
        f"samples: {len(ds)}   image size: {ds.images.shape[1]}x{ds.images.shape[2]}   "
        f"subjects: {r.num_subjects or 'n/a'}   fingerprint: {ds.fingerprint[:12]}",
    ]
    names = list(ds.label_names)
    splits = list(r.counts) or [""]
    w = max(12, *(len(s) for s in splits))
    head = "split".ljust(w) + "".join(n[:8].rjust(9) for n in names) + "total".rjust(9)
    lines += ["", head, "-" * len(head)]
    for sp in splits:
        c = r.counts.get(sp, {})
        row = [c.get(n, 0) for n in names]
        lines.append(
            (sp or "(none)").ljust(w) + "".join(str(v).rjust(9) for v in row) + str(sum(row)).rjust(9)
        )
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

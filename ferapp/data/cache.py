"""On-disk cache of loaded datasets (.npz), so a second load starts instantly.

Key = hash of the source identity (file list + sizes + mtimes, or size + mtime + sha of the
first MiB for a single file) + the reader and every preprocessing setting. Entries are
written atomically (temp file + rename); a corrupt entry is ignored and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from ferapp.data.base import DatasetReport, FaceDataset

CACHE_VERSION = 1


def default_cache_dir() -> Path:
    from ferapp.paths import cache_dir

    return cache_dir()


def resolve_cache_dir(cache_dir: str | os.PathLike | None) -> Path:
    return Path(cache_dir) if cache_dir is not None else default_cache_dir()


def make_key(**parts) -> str:
    blob = json.dumps({"v": CACHE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _entry_path(cache_dir: Path, key: str, tag: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in tag)[:40]
    return cache_dir / f"{safe}-{key}.npz"


def load(cache_dir: Path, key: str, tag: str) -> FaceDataset | None:
    p = _entry_path(cache_dir, key, tag)
    if not p.is_file():
        return None
    try:
        with np.load(p, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            soft = z["soft_labels"] if "soft_labels" in z.files else None
            paths = (
                z["paths"].tolist() if "paths" in z.files else [f"row:{i}" for i in range(len(z["labels"]))]
            )
            rep = meta["report"]
            report = DatasetReport(
                format=rep["format"],
                path=rep["path"],
                counts=rep["counts"],
                num_subjects=rep["num_subjects"],
                warnings=list(rep["warnings"]),
                skipped=[tuple(s) for s in rep["skipped"]],
                skipped_count=int(rep.get("skipped_count", 0)),
            )
            return FaceDataset(
                images=z["images"],
                labels=z["labels"].astype(np.int64),
                label_names=tuple(meta["label_names"]),
                splits=z["splits"],
                subjects=z["subjects"],
                paths=paths,
                report=report,
                fingerprint=meta["fingerprint"],
                soft_labels=soft,
            )
    except Exception:  # a broken cache entry is rebuilt, never fatal
        return None


def save(cache_dir: Path, key: str, tag: str, ds: FaceDataset) -> Path | None:
    """Write the entry; returns its path, or None when the cache folder is not writable."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        meta = {
            "label_names": list(ds.label_names),
            "fingerprint": ds.fingerprint,
            "report": {
                "format": ds.report.format,
                "path": ds.report.path,
                "counts": ds.report.counts,
                "num_subjects": ds.report.num_subjects,
                "warnings": ds.report.warnings,
                "skipped": [list(s) for s in ds.report.skipped],
                "skipped_count": ds.report.skipped_count,
            },
        }
        arrays = {
            "images": ds.images,
            "labels": ds.labels,
            "splits": np.asarray(ds.splits, dtype=str),
            "subjects": np.asarray(ds.subjects, dtype=str),
            "meta": np.asarray(json.dumps(meta)),
        }
        if not all(p == f"row:{i}" for i, p in enumerate(ds.paths)):
            arrays["paths"] = np.asarray(ds.paths, dtype=str)
        if ds.soft_labels is not None:
            arrays["soft_labels"] = ds.soft_labels
        final = _entry_path(cache_dir, key, tag)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return final
    except OSError:
        return None

"""Batch analysis of many recordings: ``ferapp analyze FOLDER | LIST.txt | PATH... --out-dir DIR``.

What a batch is made of (``collect``):

- a video file is one recording;
- a folder is walked with its sub-folders (hidden ones and the output folder skipped, links to
  folders not followed): every video in it is one recording, and the photos of each folder
  together are one more recording of stills (the photos in natural order, each detected on its
  own, as ``ferapp analyze PHOTO_FOLDER`` does); other files are ignored;
- a list file (``.txt``, ``.list``, ``.lst``) names one video, photo or folder per line (blank
  lines and ``#`` comments ignored; relative paths are relative to the list file's folder);
- a photo given on its own is a recording of one still.

Each recording gets ``DIR/<path>.csv`` (+ ``.json`` sidecar, + ``_events.csv`` in driver mode),
``<path>`` being its path below the common folder of everything given, extension kept
(``s1/a.mp4`` -> ``s1/a.mp4.csv``; the photos of ``s1/`` -> ``s1/stills.csv``), so two ``a.mp4``
in different folders never collide (names that would collide, also by letter case, are refused
before any work). The list is sorted by that name; ``--shard K/N`` takes every N-th recording
from the K-th (K counts from 0), so N shards partition it, each recording in exactly one.

A timeline appears under its name only complete (``AnalysisRequest.atomic``), so a re-run skips
every recording whose timeline and finalised sidecar exist (a resumed batch) and redoes the rest;
``--overwrite`` redoes all. ``--jobs N`` runs N worker processes (spawned; each loads the model
once and takes the next recording when it is done; ``--jobs 1`` runs in the command's own
process); a recording that fails, even by a worker crashing, is marked failed and the batch
goes on (a crashed worker is replaced and its temporary files removed). ``batch_summary.csv``
(``batch_summary.shard-K-of-N.csv`` for a shard) lists every recording with its status.
Qt-free; the CLI (``ferapp.inference.commands``) and ``ferapp bench`` drive it.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
import re
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ferapp.inference.batch import AnalysisError, AnalysisRequest

LIST_EXTS = (".txt", ".list", ".lst")
MAX_LIST_BYTES = 16 * 1024 * 1024
MAX_SIDECAR_BYTES = 1024 * 1024
SUMMARY_COLUMNS = (
    "file",
    "timeline",
    "status",
    "frames",
    "processed",
    "frames_with_face",
    "faces",
    "dominant",
    "seconds",
    "note",
)
STATUSES = ("ok", "done-before", "failed", "interrupted", "not-started")
STOP_GRACE_S = 60.0  # after Ctrl-C / SIGTERM, how long running recordings get to stop cleanly


class BatchError(Exception):
    """The batch cannot start (the message is meant for the user); ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Recording:
    source: Path  # a video file, one photo, or a folder whose photos are one recording of stills
    name: str  # output path below the out dir, without ".csv" (``/``-separated)
    kind: str  # "video", "image" or "stills"
    missing: bool = False  # named by a list file but not there (fails when its turn comes)

    def out(self, out_dir: str | os.PathLike) -> Path:
        *folders, last = self.name.split("/")
        return Path(out_dir, *folders, last + ".csv")


@dataclass
class Outcome:
    """One recording's line of the summary."""

    recording: Recording
    timeline: Path
    status: str = "not-started"
    frames: int | None = None
    processed: int | None = None
    frames_with_face: int | None = None
    faces: int | None = None
    dominant: str = ""
    seconds: float | None = None
    note: str = ""
    replacing: bool = False  # its outputs are replaced (--overwrite, or a stale sidecar of an earlier run)
    model_warning: str = ""  # e.g. an architecture without trained weights (said once per batch)

    def row(self) -> list[str]:
        def fmt(v):
            if v is None:
                return ""
            return f"{v:.2f}" if isinstance(v, float) else str(v)

        return [
            str(self.recording.source),
            str(self.timeline),
            self.status,
            *(fmt(v) for v in (self.frames, self.processed, self.frames_with_face, self.faces)),
            self.dominant,
            fmt(self.seconds),
            self.note,
        ]


@dataclass
class BatchReport:
    outcomes: list[Outcome]
    summary_path: Path | None = None
    wall_s: float = 0.0
    interrupted: bool = False
    jobs: int = 1
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return sum(o.frames or 0 for o in self.outcomes if o.status == "ok")

    @property
    def analysed(self) -> int:
        return sum(o.status == "ok" for o in self.outcomes)

    @property
    def ok(self) -> bool:
        return all(o.status in ("ok", "done-before") for o in self.outcomes)


# -- what a batch is made of -------------------------------------------------------------------
def _spec_path(spec: str) -> tuple[str, Any]:
    """``spec`` as the source reader reads it (``parse_source_spec``; SourceError -> BatchError)."""
    from ferapp.capture import SourceError, parse_source_spec

    try:
        return parse_source_spec(spec)
    except SourceError as e:
        raise BatchError(str(e)) from None


def is_list_file(spec: str) -> bool:
    s = spec.strip()
    return Path(s).suffix.lower() in LIST_EXTS and not s.lower().startswith(("rtsp:", "http:", "https:"))


def _walk(top: Path, skip: set[Path]) -> Iterable[Recording]:
    """Videos and photo folders under ``top`` (sorted; hidden entries and ``skip`` left out)."""
    from ferapp.capture import IMAGE_EXTS, VIDEO_EXTS

    for folder, dirs, files in os.walk(top, followlinks=False):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() not in skip)
        photos = False
        for f in sorted(files):
            if f.startswith("."):
                continue
            ext = Path(f).suffix.lower()
            if ext in VIDEO_EXTS:
                yield Recording(here / f, "", "video")
            elif ext in IMAGE_EXTS:
                photos = True
        if photos:
            yield Recording(here, "", "stills")


def needs_batch(spec: str) -> bool:
    """True when ``spec`` alone is several recordings: a list file, or a folder holding a video
    (a folder of photos only stays one recording of stills, as it always was)."""
    if is_list_file(spec):
        return True
    try:
        kind, arg = _spec_path(spec)
    except BatchError:
        return False
    return kind == "folder" and any(r.kind == "video" for r in _walk(Path(arg), set()))


def _read_list(path: Path) -> list[str]:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise BatchError(f"Cannot read list '{path}': {e.strerror or e}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise BatchError(f"Cannot read list '{path}': not a regular file")
        data = f.read(MAX_LIST_BYTES + 1)
    if len(data) > MAX_LIST_BYTES:
        raise BatchError(f"list '{path}' is larger than {MAX_LIST_BYTES // 2**20} MB: not a list of files")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise BatchError(f"list '{path}' line {line}: not UTF-8 text") from None
    return [s.strip() for s in text.splitlines() if s.strip() and not s.strip().startswith("#")]


def collect(specs: Iterable[str], out_dir: str | os.PathLike | None = None) -> list[Recording]:
    """Every recording named by ``specs`` (files, folders, list files), named and sorted.
    Raises BatchError for a spec that is missing or cannot be a batch member, and for names
    that would collide."""
    skip = {Path(out_dir).resolve()} if out_dir is not None else set()
    found = _gather(specs, skip)
    if not found:
        raise BatchError("nothing to analyse: no videos or photos were given")
    named = _named(found)
    named.sort(key=lambda r: r.name)
    _check_names(named)
    return named


def _gather(specs: Iterable[str], skip: set[Path]) -> list[tuple[Recording, Path]]:
    """(recording, the folder its name is relative to) for every file named by ``specs``."""
    found: list[tuple[Recording, Path]] = []

    def add(spec: str, from_list: Path | None = None) -> None:
        if from_list is None and is_list_file(spec):
            lp = Path(os.path.expanduser(spec.strip()))
            if not lp.is_file():
                raise BatchError(
                    f"Cannot read list '{spec.strip()}': "
                    + ("not a file" if lp.exists() else "file not found")
                )
            for line in _read_list(lp):
                p = Path(os.path.expanduser(line))
                add(str(p if p.is_absolute() else lp.parent / p), lp)
            return
        if from_list is not None:
            if Path(spec).suffix.lower() in LIST_EXTS:
                raise BatchError(f"list '{from_list}' names another list ('{spec}'): lists do not nest")
            if not os.path.exists(spec):
                p = Path(spec)
                found.append((Recording(p, "", "video", missing=True), p.parent))
                return
        kind, arg = _spec_path(spec)
        if kind in ("webcam", "demo", "stream"):
            raise BatchError(
                f"'{spec}' has no end: a batch takes video files, photos and folders "
                "(analyse a camera, stream or the demo on its own)"
            )
        p = Path(arg)
        if kind == "folder":
            members = list(_walk(p, skip))
            if not members and from_list is None:
                raise BatchError(f"folder '{p}' holds no videos or photos")
            found.extend((r, p) for r in members)
        else:
            found.append((Recording(p, "", "image" if kind == "image" else "video"), p.parent))

    for spec in specs:
        add(spec)
    return found


def _named(found: list[tuple[Recording, Path]]) -> list[Recording]:
    """Each recording once (a file given twice is analysed once), named by its path relative
    to the folder common to all."""
    roots = [os.path.abspath(root) for _, root in found]
    try:
        common = Path(os.path.commonpath(roots))
    except ValueError:  # different drives (Windows): names keep the drive letter
        common = None
    named: list[Recording] = []
    seen: set[tuple[int, int] | Path] = set()
    for rec, _root in found:
        key: tuple[int, int] | Path
        try:
            st = os.stat(rec.source)
            key = (st.st_dev, st.st_ino) if st.st_ino else Path(os.path.abspath(rec.source))
        except OSError:
            key = Path(os.path.abspath(rec.source))
        if key in seen:  # the same file or folder given twice: analysed once
            continue
        seen.add(key)
        absolute = Path(os.path.abspath(rec.source))
        rel = absolute.relative_to(common) if common is not None else Path(*absolute.parts[1:])
        parts = [p for p in rel.parts if p not in ("", ".")]
        if rec.kind == "stills":
            parts.append("stills")
        named.append(replace(rec, name="/".join(parts)))
    return named


def _check_names(named: list[Recording]) -> None:
    """Two recordings whose timelines would have the same name (case-insensitive) are refused."""
    by_key: dict[str, Recording] = {}
    for r in named:
        k = r.name.casefold()
        if k in by_key or k in ("batch_summary",) or k.startswith("batch_summary.shard-"):
            other = by_key.get(k)
            raise BatchError(
                f"two recordings would write the same timeline '{r.name}.csv'"
                + (f": '{other.source}' and '{r.source}'" if other else "")
                + " (rename one)"
            )
        by_key[k] = r


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` (K counts from 0, as ``$SLURM_ARRAY_TASK_ID`` with ``--array=0-(N-1)`` and
    ``$JOB_COMPLETION_INDEX`` do) -> (K, N)."""
    m = re.fullmatch(r"\s*(\d{1,6})\s*/\s*(\d{1,6})\s*", text or "")
    if not m:
        raise BatchError(f"--shard must be K/N (e.g. 0/4, K counting from 0), not '{text}'")
    k, n = int(m.group(1)), int(m.group(2))
    if n < 1 or k >= n:
        raise BatchError(f"--shard {text}: K counts from 0 and must be below N (0..{max(0, n - 1)})")
    return k, n


def shard(recordings: list[Recording], k: int, n: int) -> list[Recording]:
    """Shard ``k`` of ``n`` of the sorted list: recordings k, k+n, k+2n, ..."""
    return recordings[k::n]


# -- what is done already ----------------------------------------------------------------------
def _read_small_json(path: Path) -> dict | None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return None
            data = f.read(MAX_SIDECAR_BYTES + 1)
        meta = json.loads(data) if len(data) <= MAX_SIDECAR_BYTES else None
    except (OSError, ValueError, RecursionError):
        return None
    return meta if isinstance(meta, dict) else None


def _is_own_events_csv(path: Path) -> bool:
    from ferapp.monitor.events import EVENT_FIELDS

    return _first_line(path) == ",".join(EVENT_FIELDS)


def output_state(timeline: Path) -> tuple[str, dict | None]:
    """("absent" | "complete" | "stale" | "incomplete", sidecar meta).

    complete: the timeline and its sidecar exist, the sidecar is finalised and the run was
    neither stopped nor failed. stale: the timeline is gone but a ferapp sidecar / events file of
    an earlier run is still there (someone deleted the CSV to redo it): redone, replacing them.
    incomplete: anything else under those names (never replaced without --overwrite)."""
    from ferapp.record.timeline import events_path, sidecar_path

    side, events = sidecar_path(timeline), events_path(timeline)
    if not any(os.path.lexists(p) for p in (timeline, side, events)):
        return "absent", None
    meta = _read_small_json(side) if os.path.lexists(side) else None
    if os.path.lexists(timeline):
        if (
            os.path.isfile(timeline)
            and meta
            and meta.get("finalized") is True
            and not meta.get("interrupted")
            and not meta.get("error")
            and not meta.get("stopped_by_error")
        ):
            return "complete", meta
        return "incomplete", meta
    own_side = not os.path.lexists(side) or (
        meta is not None
        and str(meta.get("format", "")).startswith("ferapp-timeline/")
        and os.path.isfile(side)
        and not os.path.islink(side)
    )
    own_events = not os.path.lexists(events) or (
        os.path.isfile(events) and not os.path.islink(events) and _is_own_events_csv(events)
    )
    return ("stale" if own_side and own_events else "incomplete"), meta


def _incomplete_note(timeline: Path) -> str:
    from ferapp.record.timeline import events_path, sidecar_path

    there = [p.name for p in (timeline, sidecar_path(timeline), events_path(timeline)) if os.path.lexists(p)]
    return (
        f"{', '.join(there)} in {timeline.parent} exist(s) but are not a complete timeline (an earlier run "
        "stopped while finishing it, or other files): delete them, or pass --overwrite to redo it"
    )


# -- running -----------------------------------------------------------------------------------
def _analyse_one(
    rec: Recording,
    out: Path,
    template: AnalysisRequest,
    pipeline,
    should_stop: Callable[[], bool],
    on_frames: Callable[[int, int | None], None] | None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """One recording -> the fields of its Outcome (never raises for the recording's own faults)."""
    from ferapp.inference.batch import run_analysis

    t0 = time.perf_counter()
    got: dict[str, Any] = {"status": "failed"}
    if rec.missing:
        got["note"] = f"file not found: '{rec.source}'"
        return got
    req = replace(
        template, source=str(rec.source), out=str(out), atomic=True, video_out=None, overwrite=overwrite
    )
    warnings: list[str] = []
    try:
        res = run_analysis(
            req, on_progress=on_frames, should_stop=should_stop, pipeline=pipeline, on_warning=warnings.append
        )
    except AnalysisError as e:
        got["note"] = str(e)
        return got
    except Exception as e:  # one recording's fault must not end the batch
        got.update(note=f"{type(e).__name__}: {e}", broken=True)
        return got
    s = res.summary
    got.update(
        frames=s.frames,
        processed=s.processed,
        frames_with_face=s.frames_with_face,
        faces=len(s.face_ids),
        dominant=s.dominant(),
        seconds=time.perf_counter() - t0,
    )
    notes = [w for w in warnings if "no trained weights" not in w]
    got["model_warning"] = next((w for w in warnings if "no trained weights" in w), "")
    if res.interrupted:
        got["status"] = "interrupted"
    elif s.processed == 0:
        got["note"] = "no frames could be read"
    else:
        got["status"] = "ok"
        if res.hint:
            notes.append(res.hint.split(". ")[0])
    got["note"] = "; ".join(notes)
    return got


def make_pipeline(template: AnalysisRequest, threads: int | None = None):
    """The pipeline a batch process reuses for its recordings (reset before each)."""
    from ferapp.inference.pipeline import Pipeline

    try:
        return Pipeline(
            detector=template.detector,
            model=template.model,
            device=template.device,
            smoothing=template.smoothing,
            min_face=template.min_face,
            threads=threads,
        )
    except (KeyError, ValueError, RuntimeError, OSError) as e:
        raise BatchError(str(e.args[0] if isinstance(e, KeyError) and e.args else e)) from None


def _worker_main(conn, template: dict, threads: int, stop_event, parent_pid: int) -> None:
    """A batch worker process: build the pipeline once, then analyse what the parent sends."""
    import signal
    import threading

    stopped = threading.Event()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us cleanly
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())  # a scheduler's SIGTERM to the whole job
    try:
        import cv2

        cv2.setNumThreads(threads)
    except Exception:  # OpenCV's own threading is only a speed matter
        pass
    req = AnalysisRequest(**template)
    try:
        pipeline = make_pipeline(req, threads)
    except BatchError as e:
        conn.send(("setup-failed", str(e)))
        return
    conn.send(("ready", os.getpid()))

    def should_stop() -> bool:
        if stopped.is_set() or stop_event.is_set() or os.getppid() != parent_pid:
            stopped.set()
            return True
        return False

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            break
        if msg is None:
            break
        idx, rec, out, overwrite = msg
        last = [0.0]

        def on_frames(i: int, n: int | None, idx=idx, last=last) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.25:
                last[0] = now
                conn.send(("progress", idx, i, n))

        got = _analyse_one(rec, Path(out), req, pipeline, should_stop, on_frames, overwrite)
        if got.pop("broken", False):  # an unexpected error may leave the pipeline in a bad state
            pipeline.close()
            try:
                pipeline = make_pipeline(req, threads)
            except BatchError:
                pass
        try:
            conn.send(("done", idx, got))
        except (OSError, ValueError):
            break
    pipeline.close()


def remove_leftovers(timeline: Path, pid: int) -> list[Path]:
    """Delete the temporary files a (crashed) process ``pid`` of this batch left for ``timeline``:
    only names of the form ferapp gives them (``.<name>.<pid>-<8 hex>.part.csv|.json`` and
    ``.<name>...<pid>-<8 hex>.tmp``)."""
    from ferapp.record.timeline import events_path, sidecar_path

    stems = {
        re.escape(timeline.stem),
        re.escape(sidecar_path(timeline).name),
        re.escape(events_path(timeline).name),
    }
    pat = re.compile(
        r"^\.{1,2}("
        + "|".join(stems)
        + r")\.(.*\.)?"
        + str(int(pid))
        + r"-[0-9a-f]{8}(\.part\.(csv|json)|\.tmp)$"
    )
    from ferapp.record.output import OutputClaim, OutputError

    removed: list[Path] = []
    try:  # its lock file too: taken (nobody holds it now) and released, which removes it
        OutputClaim(timeline, ".csv", overwrite=True).release()
    except OutputError:
        pass
    try:
        names = os.listdir(timeline.parent)
    except OSError:
        return removed
    for name in names:
        if pat.match(name):
            try:
                os.unlink(timeline.parent / name)
                removed.append(timeline.parent / name)
            except OSError:
                pass
    return removed


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "the worker process stopped"
    if code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the worker process was killed ({name})"
    return f"the worker process exited with code {code}"


class _Worker:
    def __init__(self, ctx, template: dict, threads: int, stop_event):
        parent, child = ctx.Pipe()
        self.conn = parent
        self.proc = ctx.Process(
            target=_worker_main,
            args=(child, template, threads, stop_event, os.getpid()),
            daemon=True,
            name="ferapp-batch-worker",
        )
        self.proc.start()
        child.close()
        self.ready = False
        self.eof = False
        self.task: int | None = None
        self.pid = self.proc.pid


def run_batch(
    recordings: list[Recording],
    template: AnalysisRequest,
    out_dir: str | os.PathLike,
    jobs: int = 1,
    overwrite: bool = False,
    summary_name: str = "batch_summary.csv",
    should_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[float, int], None] | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> BatchReport:
    """Analyse ``recordings`` into ``out_dir``; write the summary CSV; never raises for one
    recording's fault (BatchError when the batch cannot start: output folder not writable,
    model not loadable). ``on_progress(recordings done, fractional; frames read)``;
    ``on_start(to do, done before)``."""
    from ferapp.record.output import OutputClaim, OutputError

    stop = should_stop or (lambda: False)
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    summary = out_dir / summary_name
    try:  # before any work: the folder is writable and no other batch writes this summary
        claim = OutputClaim(summary, ".csv", overwrite=True, temp=True)
    except OutputError as e:
        raise BatchError(str(e), code=3) from None
    try:
        head = _first_line(summary)
        if head is not None and head != ",".join(SUMMARY_COLUMNS) and not overwrite:
            raise BatchError(
                f"'{summary}' exists and is not a ferapp batch summary: move it, or pass --overwrite", code=2
            )
        outcomes = [Outcome(r, r.out(out_dir)) for r in recordings]
        todo: list[int] = []
        for i, o in enumerate(outcomes):
            state, meta = output_state(o.timeline)
            if state == "complete" and not overwrite:
                o.status = "done-before"
                meta = meta or {}
                o.frames, o.processed = _int(meta.get("frames_read")), _int(meta.get("processed"))
                o.frames_with_face, o.faces = _int(meta.get("frames_with_face")), _int(meta.get("face_ids"))
                o.dominant = str(meta.get("dominant") or "")
            elif state == "incomplete" and not overwrite:
                o.status = "failed"
                o.note = _incomplete_note(o.timeline)
            else:
                todo.append(i)
                o.replacing = overwrite or state == "stale"
        if on_start is not None:
            on_start(len(todo), sum(o.status == "done-before" for o in outcomes))
        for o in outcomes:
            if o.status == "failed" and on_outcome is not None:
                on_outcome(o)
        report = BatchReport(outcomes, jobs=jobs)
        if todo:
            runner = _run_in_process if jobs <= 1 or len(todo) == 1 else _run_in_workers
            runner(outcomes, todo, template, jobs, stop, on_progress, on_outcome)
            report.interrupted = any(o.status in ("interrupted", "not-started") for o in outcomes)
        report.wall_s = time.perf_counter() - t0
        report.counts = {s: sum(o.status == s for o in outcomes) for s in STATUSES}
        _write_summary(claim, outcomes)
        report.summary_path = summary
        return report
    finally:
        claim.abort()  # after the commit: only a no-op; before it: drops the lock and any temporary file


def _int(v) -> int | None:
    return int(v) if isinstance(v, int | float) and math.isfinite(v) else None


def _first_line(path: Path) -> str | None:
    """The first line of a regular file (None when nothing is there; "" when it is not a regular
    file or unreadable): never blocks on a FIFO, never follows a link."""
    if not os.path.lexists(path):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return ""
        try:
            return f.readline(4096).decode("utf-8", "replace").strip()
        except OSError:
            return ""


def _write_summary(claim, outcomes: list[Outcome]) -> None:
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(SUMMARY_COLUMNS)
    for o in outcomes:
        w.writerow(o.row())
    try:
        fd = claim.create()
        with os.fdopen(fd, "wb") as f:
            f.write(buf.getvalue().encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        claim.commit()
    except OSError as e:
        raise BatchError(f"Cannot write '{claim.final}': {e.strerror or e}", code=3) from None


def _apply(o: Outcome, got: dict[str, Any]) -> None:
    for k in (
        "status",
        "frames",
        "processed",
        "frames_with_face",
        "faces",
        "dominant",
        "seconds",
        "note",
        "model_warning",
    ):
        if k in got and got[k] is not None:
            setattr(o, k, got[k])


class _Progress:
    """Recordings done (fractions for the ones running) and frames read, for one bar."""

    def __init__(self, cb: Callable[[float, int], None] | None):
        self.cb, self.done = cb, 0
        self.part: dict[int, float] = {}  # share read of each running recording
        self.frames: dict[int, int] = {}

    def frame(self, idx: int, i: int, n: int | None) -> None:
        self.part[idx] = min(1.0, i / n) if n else 0.0
        self.frames[idx] = i
        self._emit()

    def finish(self, idx: int, frames: int | None) -> None:
        self.done += 1
        self.part.pop(idx, None)
        self.frames[idx] = frames or self.frames.get(idx, 0)
        self._emit()

    def _emit(self) -> None:
        if self.cb is not None:
            self.cb(self.done + sum(self.part.values()), sum(self.frames.values()))


def _run_in_process(outcomes, todo, template, jobs, stop, on_progress, on_outcome) -> bool:
    progress = _Progress(on_progress)
    pipeline = make_pipeline(template)
    try:
        for n, idx in enumerate(todo):
            if stop():
                return True
            o = outcomes[idx]
            got = _analyse_one(
                o.recording,
                o.timeline,
                template,
                pipeline,
                stop,
                functools.partial(progress.frame, idx),
                o.replacing,
            )
            if got.pop("broken", False) and n + 1 < len(todo):
                pipeline.close()
                pipeline = make_pipeline(template)
            _apply(o, got)
            progress.finish(idx, o.frames)
            if on_outcome is not None:
                on_outcome(o)
        return stop()
    finally:
        pipeline.close()


def _run_in_workers(outcomes, todo, template, jobs, stop, on_progress, on_outcome) -> bool:
    pool = _Pool(outcomes, todo, template, jobs, on_progress, on_outcome)
    try:
        return pool.run(stop)
    finally:
        pool.close()


class _Pool:
    """``jobs`` spawned worker processes analysing the ``todo`` recordings: hands out tasks,
    reads their messages, replaces a worker that died, and stops them all at the end."""

    def __init__(self, outcomes, todo, template, jobs: int, on_progress, on_outcome):
        import multiprocessing as mp

        self.ctx = mp.get_context("spawn")  # a clean interpreter: no fork of torch's or dlib's threads
        self.stop_event = self.ctx.Event()
        self.threads = max(1, (os.cpu_count() or 1) // jobs)
        self.tdict = asdict(template)
        self.outcomes, self.on_outcome = outcomes, on_outcome
        self.queue = list(todo)
        self.progress = _Progress(on_progress)
        self.workers = [self._spawn() for _ in range(min(jobs, len(self.queue)))]
        self.stopping, self.stop_deadline = False, math.inf
        self.setup_error: str | None = None

    def _spawn(self) -> _Worker:
        return _Worker(self.ctx, self.tdict, self.threads, self.stop_event)

    def run(self, stop) -> bool:
        """Until every task is done (or stopped, or the workers cannot start); returns whether stopped."""
        from multiprocessing.connection import wait

        while True:
            if not self.stopping and stop():
                self.stopping, self.stop_deadline = True, time.monotonic() + STOP_GRACE_S
                self.stop_event.set()
            if self.stopping:
                self.queue.clear()
                if time.monotonic() > self.stop_deadline:  # a worker that does not stop is ended in close()
                    break
            self._dispatch()
            if not self.queue and all(w.task is None for w in self.workers):
                break
            if not self.workers and self.setup_error is None:
                self.setup_error = "every worker process stopped"
            if self.setup_error is not None:
                break
            wait(
                [w.conn for w in self.workers if not w.eof] + [w.proc.sentinel for w in self.workers],
                timeout=0.25,
            )
            for w in list(self.workers):
                self._read(w)
                if not w.proc.is_alive():
                    self._reap(w)
        if self.setup_error is not None:
            raise BatchError(self.setup_error)
        return self.stopping

    def _dispatch(self) -> None:
        for w in self.workers:
            if w.ready and w.task is None and self.queue and w.proc.is_alive():
                w.task = self.queue.pop(0)
                o = self.outcomes[w.task]
                w.conn.send((w.task, o.recording, str(o.timeline), o.replacing))

    def _read(self, w: _Worker) -> None:
        while not w.eof and w.conn.poll():
            try:
                msg = w.conn.recv()
            except (EOFError, OSError):
                w.eof = True
                break
            kind = msg[0]
            if kind == "ready":
                w.ready = True
            elif kind == "setup-failed":
                self.setup_error = msg[1]
            elif kind == "progress" and msg[1] == w.task:
                self.progress.frame(msg[1], msg[2], msg[3])
            elif kind == "done" and msg[1] == w.task:
                self._finish(w, msg[2])

    def _reap(self, w: _Worker) -> None:
        """A worker process that ended: its task failed, or it could not start; replaced if work is left."""
        w.proc.join(1)
        if w.task is not None:  # it died in the middle of a recording
            remove_leftovers(self.outcomes[w.task].timeline, w.pid)
            self._finish(w, {"status": "failed", "note": _exit_reason(w.proc.exitcode)})
        elif not w.ready and self.setup_error is None:
            self.setup_error = f"a worker could not start ({_exit_reason(w.proc.exitcode)})"
        self.workers.remove(w)
        w.conn.close()
        if self.queue and not self.stopping and self.setup_error is None:
            self.workers.append(self._spawn())

    def _finish(self, w: _Worker, got: dict[str, Any]) -> None:
        idx = w.task
        if idx is None:  # never: a "done" names the worker's task, a dead worker with none is not finished
            return
        o = self.outcomes[idx]
        got.pop("broken", None)
        _apply(o, got)
        self.progress.finish(idx, o.frames)
        w.task = None
        if self.on_outcome is not None:
            self.on_outcome(o)

    def close(self) -> None:
        """Stop every worker (30 s to finish, then terminated); an unfinished task's files are removed."""
        self.stop_event.set()
        for w in self.workers:
            try:
                w.conn.send(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + 30
        for w in self.workers:
            w.proc.join(max(0.1, deadline - time.monotonic()))
            if w.proc.is_alive():
                w.proc.terminate()
                w.proc.join(5)
            if w.task is not None:
                o = self.outcomes[w.task]
                remove_leftovers(o.timeline, w.pid)
                if o.status == "not-started":
                    o.status = "interrupted"
            try:
                w.conn.close()
            except OSError:
                pass

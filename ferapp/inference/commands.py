"""``ferapp analyze`` (registered on the main CLI by ``add_parser``): one source into one
timeline, or many recordings (a folder of videos, a list file, several paths) into ``--out-dir``.

Exit codes: 0 success; 1 no frame could be read (one source) or a recording failed (a batch:
its summary says which); 2 bad input or options (nothing written); 3 an output could not be
written; 130 stopped by Ctrl-C (SIGINT), 143 by SIGTERM (a single timeline is finalised up to
that point; a batch keeps only complete timelines and re-running it resumes).
"""

from __future__ import annotations

import argparse
import sys

from ferapp.signals import StopOnSignals  # Ctrl-C / SIGTERM: finish cleanly, exit 130 / 143


def number_arg(
    kind: type, lo: float, hi: float | None, hi_open: bool = False, what: str = "", lo_open: bool = False
):
    """argparse type (every command's): a finite ``kind`` in [lo, hi]; ``lo_open`` / ``hi_open``
    exclude that end, ``hi=None`` has none."""
    import math

    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"not {'an integer' if kind is int else 'a number'}: {text!r}"
            ) from None
        if (
            isinstance(v, float)
            and not math.isfinite(v)
            or (v <= lo if lo_open else v < lo)
            or (hi is not None and (v >= hi if hi_open else v > hi))
        ):
            if hi is None:
                rng = f"{'>' if lo_open else '>='} {lo:g}"
            else:
                rng = f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
            raise argparse.ArgumentTypeError(f"{what or 'value'} must be {rng}, not {text}")
        return v

    return parse


def add_parser(sub) -> None:
    from ferapp.config import settings
    from ferapp.detect.registry import DetectorHelp  # no dlib, OpenCV or torch

    det, inf = settings().detection, settings().inference
    p = sub.add_parser(
        "analyze",
        help="run the pipeline on a source and write an expression timeline",
        description="Analyse one source into a timeline, or many recordings (a folder of "
        "videos, a list file, several paths) into --out-dir.",
    )
    p.add_argument(
        "source",
        nargs="+",
        help="camera index (0), video file, image, folder, list file (.txt: one path per line), "
        "'demo', or 'demo:driver' (the demo face acting out every driver alert; with --driver). "
        "A folder of photos is one recording of stills; a folder that holds videos, "
        "a list file or several sources is a batch (one timeline per recording in --out-dir)",
    )
    p.add_argument(
        "--model", default=None, help="trained model name/folder or architecture (default: the default model)"
    )
    p.add_argument("--detector", default=det.detector, metavar="NAME", help=DetectorHelp())
    p.add_argument(
        "--min-face",
        type=number_arg(float, *det.min_face_range, what="--min-face"),
        default=det.min_face,
        metavar="PX",
        help=f"smallest face width to find, in frame pixels (default {det.min_face:g}; smaller is slower)",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="FILE.csv",
        help="timeline CSV to write (a JSON sidecar is written beside it); default: "
        "<source name>_<date-time>.csv in the current folder. Never an existing file "
        "(see --overwrite) or an input",
    )
    p.add_argument(
        "--out-dir",
        default=None,
        metavar="DIR",
        help="batch: one timeline per recording (<path below the common folder>.csv, e.g. "
        "s1/a.mp4.csv) and batch_summary.csv; recordings whose timeline is complete are skipped",
    )
    p.add_argument(
        "--jobs",
        type=number_arg(int, 1, 256, what="--jobs"),
        default=None,
        metavar="N",
        help="batch: N worker processes (default 1: in this process; more than the CPU cores does not help)",
    )
    p.add_argument(
        "--shard",
        default=None,
        metavar="K/N",
        help="batch: analyse shard K of N of the sorted list (K from 0), e.g. --shard $SLURM_ARRAY_TASK_ID/8",
    )
    p.add_argument(
        "--video-out",
        default=None,
        metavar="FILE.mp4",
        help="also write the annotated video (boxes, ids, labels) as an MP4 (one source only)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out / --video-out (atomically, when done); in a batch, redo "
        "every recording",
    )
    p.add_argument(
        "--max-frames",
        type=number_arg(int, 1, None, what="--max-frames"),
        default=None,
        help="stop after N frames (per recording)",
    )
    p.add_argument(
        "--every", type=number_arg(int, 1, 10_000, what="--every"), default=1, help="process every N-th frame"
    )
    p.add_argument(
        "--device",
        default=inf.device,
        help=f"auto (CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps (default {inf.device})",
    )
    p.add_argument(
        "--smoothing",
        type=number_arg(float, 0.0, 1.0, hi_open=True, what="--smoothing"),
        default=inf.smoothing(live=False),
        help=f"per-face EMA smoothing in [0, 1), 0 = the raw per-frame numbers (default "
        f"{inf.smoothing(live=False):g}; the window's live view uses {inf.smoothing(live=True):g})",
    )
    p.add_argument(
        "--driver", action="store_true", help="driver monitoring: EAR/MAR/head pose columns + events.csv"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_analyze)


def _request(args, source: str):
    from ferapp.inference.batch import AnalysisRequest

    return AnalysisRequest(
        source=source,
        out=args.out,
        model=args.model,
        detector=args.detector,
        min_face=args.min_face,
        smoothing=args.smoothing,
        every=args.every,
        max_frames=args.max_frames,
        device=args.device,
        driver=args.driver,
        video_out=args.video_out,
        overwrite=args.overwrite,
    )


def cmd_analyze(args) -> int:
    from ferapp.inference.multi import needs_batch

    sources = list(args.source)
    batch = (
        len(sources) > 1
        or args.out_dir is not None
        or args.jobs is not None
        or args.shard is not None
        or needs_batch(sources[0])
    )
    return _cmd_batch(args, sources) if batch else _cmd_single(args, sources[0])


def _cmd_single(args, source: str) -> int:
    from tqdm import tqdm

    from ferapp.inference.batch import AnalysisError, run_analysis

    req = _request(args, source)
    bar = None

    def started(res) -> None:
        nonlocal bar
        bar = tqdm(total=res.total_frames, unit="frame", disable=args.quiet, file=sys.stderr)

    interrupted = StopOnSignals()  # Ctrl-C / SIGTERM end the run cleanly: the timeline is finalised
    try:
        with interrupted:
            res = run_analysis(
                req,
                on_progress=lambda i, _n: bar.update(1) if bar is not None else None,
                should_stop=interrupted.is_set,
                on_warning=lambda m: print(f"warning: {m}", file=sys.stderr),
                on_start=started,
            )
    except AnalysisError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    finally:
        if bar is not None:
            bar.close()
    summary = res.summary
    print(summary.format())
    if res.events_path is not None:
        from ferapp.monitor.events import format_events

        print(f"driver events ({len(res.events)}), written to {res.events_path}:")
        print(format_events(res.events))
    print(f"timeline: {res.out} ({res.rows} rows)")
    if res.video_out is not None:
        print(f"annotated video: {res.video_out} ({res.video_frames} frames)")
    elif args.video_out:
        print(f"annotated video: not written (no frame was processed): {args.video_out}")
    if res.hint:
        print(f"warning: {res.hint}", file=sys.stderr)
    if res.interrupted:
        print("interrupted: stopped early, the timeline is complete up to that point", file=sys.stderr)
        return interrupted.exit_code()
    if summary.processed == 0:
        print("error: no frames could be read from the source", file=sys.stderr)
        return 1
    return 0


def _cmd_batch(args, sources: list[str]) -> int:
    from ferapp.inference.multi import BatchError, collect, parse_shard, run_batch, shard

    def fail(msg: str, code: int = 2) -> int:
        print(f"error: {msg}", file=sys.stderr)
        return code

    if args.out:
        return fail(
            "--out names one timeline; analysing several recordings writes one per recording: "
            "use --out-dir DIR"
        )
    if args.video_out:
        return fail("--video-out writes one annotated video: it is for one source, not a batch")
    try:
        k, n = parse_shard(args.shard) if args.shard is not None else (0, 1)
        if args.out_dir is None:
            recs = collect(sources)
            return fail(
                f"{' '.join(sources)[:200]} holds {len(recs)} recording(s): give --out-dir DIR for "
                "their timelines"
            )
        recordings = collect(sources, args.out_dir)
    except BatchError as e:
        return fail(str(e), e.code)
    mine = shard(recordings, k, n)
    name = "batch_summary.csv" if args.shard is None else f"batch_summary.shard-{k}-of-{n}.csv"
    jobs = args.jobs or 1
    shard_note = f" (shard {k}/{n} of {len(recordings)})" if n > 1 else ""
    bar = _BatchBar(f"{len(mine)} recording(s){shard_note}", jobs, args.quiet)
    stop = StopOnSignals()
    template = _request(args, "")
    try:
        with stop:
            report = run_batch(
                mine,
                template,
                args.out_dir,
                jobs=jobs,
                overwrite=args.overwrite,
                summary_name=name,
                should_stop=stop.is_set,
                on_progress=bar.progress,
                on_outcome=bar.outcome,
                on_start=bar.started,
            )
    except BatchError as e:
        return fail(str(e), e.code)
    finally:
        bar.close()
    _print_batch_report(report)
    print(f"summary: {report.summary_path}")
    if report.interrupted:
        print(
            "interrupted: only complete timelines were kept; run the same command again to resume",
            file=sys.stderr,
        )
        return stop.exit_code()
    return 0 if report.ok else 1


class _BatchBar:
    """The batch's progress bar (recordings, with frames and frames/s) and its failure lines."""

    def __init__(self, what: str, jobs: int, quiet: bool):
        self.what, self.jobs, self.quiet = what, jobs, quiet
        self.bar = None
        self.frames_seen = 0

    def started(self, todo: int, done_before: int) -> None:
        from tqdm import tqdm

        print(
            f"batch: {self.what}; {done_before} done before, {todo} to analyse with {self.jobs} job(s)",
            file=sys.stderr,
        )
        self.bar = tqdm(
            total=todo,
            unit="rec",
            disable=self.quiet or not todo,
            file=sys.stderr,
            bar_format="{l_bar}{bar}| {n:.1f}/{total} rec [{elapsed}<{remaining}{postfix}]",
        )

    def progress(self, done: float, frames: int) -> None:
        bar = self.bar
        if bar is not None:
            bar.update(done - bar.n)
            if frames != self.frames_seen:
                self.frames_seen = frames
                el = bar.format_dict.get("elapsed") or 0.0
                bar.set_postfix_str(
                    f"{frames} frames, {frames / el:.1f} frames/s" if el > 0 else f"{frames} frames",
                    refresh=False,
                )

    def outcome(self, o) -> None:
        if o.status == "failed":
            line = f"failed: {o.recording.source}: {o.note}"
            if self.bar is not None:
                self.bar.write(line, file=sys.stderr)
            else:
                print(line, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _print_batch_report(report) -> None:
    for w in dict.fromkeys(o.model_warning for o in report.outcomes if o.model_warning):
        print(f"warning: {w}", file=sys.stderr)
    c = report.counts
    rate = (
        (
            f"; {report.frames} frames in {report.wall_s:.1f} s ({report.frames / report.wall_s:.1f} frames/s, "
            f"{report.analysed / report.wall_s:.2f} recordings/s)"
        )
        if report.analysed and report.wall_s > 0
        else ""
    )
    print(
        f"batch: {len(report.outcomes)} recording(s): {c['ok']} analysed, {c['done-before']} done before, "
        f"{c['failed']} failed"
        + (f", {c['interrupted'] + c['not-started']} not finished" if report.interrupted else "")
        + rate
    )

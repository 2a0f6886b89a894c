"""Command line: `ferapp` opens the GUI; subcommands analyze / models / train / eval / bench / data / gui."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from ferapp import __version__
from ferapp.config import DEFAULT_MIN_FACE, MIN_FACE_RANGE

log = logging.getLogger("ferapp")


def _number(kind: type, lo: float, hi: float | None, hi_open: bool = False, what: str = ""):
    """argparse type: a finite ``kind`` in [lo, hi] (or [lo, hi) with ``hi_open``)."""
    import math

    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {'an integer' if kind is int else 'a number'}: {text!r}") from None
        if isinstance(v, float) and not math.isfinite(v) or v < lo or (hi is not None and (v >= hi if hi_open else v > hi)):
            rng = f"[{lo:g}, {hi:g}{')' if hi_open else ']'}" if hi is not None else f">= {lo:g}"
            raise argparse.ArgumentTypeError(f"{what or 'value'} must be in {rng}, not {text}")
        return v

    return parse


def _add_analyze(sub) -> None:
    p = sub.add_parser("analyze", help="run the pipeline on a source and write an expression timeline")
    p.add_argument("source", help="camera index (0), video file, image, image folder, or 'demo'")
    p.add_argument("--model", default=None, help="trained model name/folder or architecture (default: the default model)")
    p.add_argument("--detector", default="hog", help="face detector: hog (default), cnn (slower, more robust), haar")
    p.add_argument("--min-face", type=_number(float, *MIN_FACE_RANGE, what="--min-face"), default=DEFAULT_MIN_FACE, metavar="PX",
                   help=f"smallest face width to find, in frame pixels (default {DEFAULT_MIN_FACE}; smaller is slower)")
    p.add_argument("--out", default=None, metavar="FILE.csv",
                   help="timeline CSV to write (a JSON sidecar is written beside it); default: "
                        "<source name>_<date-time>.csv in the current folder. Never an existing file "
                        "(see --overwrite) or an input")
    p.add_argument("--video-out", default=None, metavar="FILE.mp4",
                   help="also write the annotated video (boxes, ids, labels) as an MP4")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out / --video-out (atomically, when done)")
    p.add_argument("--max-frames", type=_number(int, 1, None, what="--max-frames"), default=None,
                   help="stop after N frames")
    p.add_argument("--every", type=_number(int, 1, 10_000, what="--every"), default=1, help="process every N-th frame")
    p.add_argument("--device", default="auto", help="auto (CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps")
    p.add_argument("--smoothing", type=_number(float, 0.0, 1.0, hi_open=True, what="--smoothing"), default=0.0,
                   help="per-face EMA smoothing in [0, 1) (0 = raw)")
    p.add_argument("--driver", action="store_true", help="driver monitoring: EAR/MAR/head pose columns + events.csv")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_analyze)


def cmd_analyze(args) -> int:
    from tqdm import tqdm

    from ferapp.inference.batch import AnalysisError, AnalysisRequest, run_analysis

    req = AnalysisRequest(source=args.source, out=args.out, model=args.model, detector=args.detector,
                          min_face=args.min_face, smoothing=args.smoothing, every=args.every,
                          max_frames=args.max_frames, device=args.device, driver=args.driver,
                          video_out=args.video_out, overwrite=args.overwrite)
    bar = None

    def started(res) -> None:
        nonlocal bar
        bar = tqdm(total=res.total_frames, unit="frame", disable=args.quiet, file=sys.stderr)

    interrupted = _StopOnSignals()  # Ctrl-C / SIGTERM end the run cleanly: the timeline is finalised
    try:
        with interrupted:
            res = run_analysis(req, on_progress=lambda i, _n: bar.update(1), should_stop=interrupted.is_set,
                               on_warning=lambda m: print(f"warning: {m}", file=sys.stderr), on_start=started)
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
    if res.hint:
        print(f"warning: {res.hint}", file=sys.stderr)
    if res.interrupted:
        print("interrupted: stopped early, the timeline is complete up to that point", file=sys.stderr)
        return 130
    if summary.processed == 0:
        print("error: no frames could be read from the source", file=sys.stderr)
        return 1
    return 0


class _StopOnSignals:
    """While active, the first SIGINT/SIGTERM only sets a flag (a second one acts as usual)."""

    def __init__(self):
        import threading

        self._flag = threading.Event()
        self._old: dict = {}

    def is_set(self) -> bool:
        return self._flag.is_set()

    def _handle(self, signum, _frame) -> None:
        import signal

        self._flag.set()
        signal.signal(signum, self._old.get(signum, signal.SIG_DFL))

    def __enter__(self):
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        import signal

        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list architectures and trained models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)


def cmd_models(args) -> int:
    from ferapp.zoo import get_model_cfg, list_models
    from ferapp.zoo.store import default_model_name, list_trained_models

    trained = list_trained_models()
    default = default_model_name()
    if args.json:
        print(json.dumps({
            "default": default,
            "trained": [{"name": e.name, "arch": e.arch, "path": str(e.path), "shipped": e.shipped,
                         **{k: v for k, v in (e.meta or {}).items() if isinstance(v, int | float | str)}}
                        for e in trained],
            "architectures": list_models(),
        }, indent=2))
        return 0
    print("Trained models:")
    if not trained:
        print("  (none yet: train one with `ferapp train`)")
    for e in trained:
        meta = e.meta or {}
        acc = meta.get("privatetest_acc", meta.get("accuracy"))
        proto = meta.get("protocol", "")
        where = "FER2013 PrivateTest" if "privatetest_acc" in meta else (
            proto.get("name", "") if isinstance(proto, dict) else str(proto))
        acc_s = f"{100 * acc:.2f}% {where}".strip() if isinstance(acc, int | float) else "n/a"
        lat = meta.get("latency_ms")
        lat_s = f"{lat:.2f} ms/face" if isinstance(lat, int | float) else ""
        mark = "*" if e.name == default else " "
        print(f" {mark} {e.name:<22} {e.arch:<18} acc {acc_s:<28} {lat_s} {'(shipped)' if e.shipped else '(user)'}")
    print("\nArchitectures (untrained):")
    for name in list_models():
        cfg = get_model_cfg(name)
        print(f"   {name:<22} {cfg.paper:<4} input {cfg.input_size[0]}x{cfg.input_size[1]}x{cfg.channels}")
    return 0


def _add_gui(sub) -> None:
    from ferapp.gui_cli import add_gui_arguments

    p = sub.add_parser("gui", help="open the desktop app (default when no command is given)")
    add_gui_arguments(p)
    p.set_defaults(func=cmd_gui)


def cmd_gui(args) -> int:
    from ferapp.gui_cli import validate_gui_args

    problem = validate_gui_args(args)  # before Qt loads: a typo costs no window
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        from ferapp.gui.app import run_gui
    except ImportError as e:  # Qt missing or broken: say so, no traceback
        print(f"error: the GUI cannot start: {e}", file=sys.stderr)
        return 2
    return run_gui(args)


def _optional(sub, module: str, fn: str = "add_parsers") -> None:
    """Register subcommands that live in their own modules."""
    import importlib

    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name != module:
            raise
        return
    getattr(mod, fn)(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ferapp", description="Real-time facial expression recognition.")
    parser.add_argument("--version", action="version", version=f"ferapp {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command")
    _add_gui(sub)
    _add_analyze(sub)
    _add_models(sub)
    _optional(sub, "ferapp.train.commands")
    _optional(sub, "ferapp.data.cli", "add_parser")
    _optional(sub, "ferapp.bench", "add_parser")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # also while the heavy imports (torch, Qt) are still loading
        print("interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if not argv or argv[0] not in parser._subparsers._group_actions[0].choices and argv[0] not in (
            "-h", "--help", "--version", "-v", "--verbose"):
        argv = ["gui", *argv]
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "command", None) is None:
        args = parser.parse_args(["gui"])
    return int(args.func(args) or 0)

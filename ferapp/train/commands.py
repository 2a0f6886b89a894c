"""``ferapp train`` and ``ferapp eval`` (registered on the main CLI by ``add_parsers``).

Each handler returns an exit code: 0 success, 1 the run failed, 2 bad input (unknown model,
unreadable data, bad checkpoint, bad option, a non-empty --out that is not a ferapp run of the
model), 130 cancelled by Ctrl-C, 143 stopped by SIGTERM (both keep a resumable ``last.pt``).

``ferapp train --nproc N`` starts torchrun's elastic launcher with N copies of the same command
(``ferapp.train.distributed``); under torchrun each copy is one rank of one training run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ferapp.inference.commands import number_arg  # the one argparse number type
from ferapp.train.options import add_cli_flags


def add_parsers(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a model zoo architecture on a dataset",
        description="Train an architecture under a protocol; per fold: train, test, "
        "checkpoint; then report.json, confusion matrix and a model folder.",
    )
    p.add_argument("--model", required=True, help="architecture name (see `ferapp models`)")
    p.add_argument(
        "--data", required=True, help="dataset file or folder (FER2013 csv, CK+48 zip, image folders...)"
    )
    p.add_argument("--format", default="auto", help="dataset format (default: auto-detect)")
    p.add_argument(
        "--protocol",
        default="official",
        help="official | kfold-<k> | subject-<k>fold | holdout-<pct> | p1-jaffe | p1-ck | p2 | p4 | p5",
    )
    p.add_argument(
        "--out",
        help="run folder (default: <user data>/ferapp/runs/<model>-<time>, the folder the "
        "training wizard uses; FERAPP_RUNS_DIR overrides)",
    )
    p.add_argument("--folds", help="1-based fold numbers to run, e.g. 1,3 (default: all)")
    p.add_argument("--max-train", type=int, help="cap training images per fold (stratified subsample)")
    p.add_argument(
        "--save",
        metavar="NAME",
        help="also install the trained model as NAME in the user model store "
        "(it then appears in the GUI's Model list and in `ferapp models`)",
    )
    p.add_argument(
        "--arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model constructor argument (repeatable), e.g. --arg width_mult=0.5",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    d = p.add_argument_group("distributed training (torch.distributed; see README 'Distributed training')")
    d.add_argument(
        "--nproc",
        type=number_arg(int, 1, None, what="--nproc"),
        metavar="N",
        help="train with N processes on this machine: starts torchrun's elastic launcher "
        "(torch.distributed.run) with N copies of this command; gloo on the CPU, nccl with one GPU "
        "per process on CUDA. Under torchrun itself leave it out",
    )
    d.add_argument(
        "--max-restarts",
        type=number_arg(int, 0, None, what="--max-restarts"),
        default=0,
        metavar="K",
        help="with --nproc: restart the process group up to K times when a process dies; each fold "
        "continues from its own last.pt (use --checkpoint-every to lose little work)",
    )
    d.add_argument(
        "--dist-timeout",
        type=number_arg(float, 0, None, lo_open=True, what="--dist-timeout"),
        default=None,
        metavar="S",
        help="seconds a collective may wait for the other processes before the job fails (default 900)",
    )
    add_cli_flags(p)  # every training option of the schema (ferapp.train.options)
    p.set_defaults(func=cmd_train, _parser=p)

    e = subparsers.add_parser(
        "eval",
        help="evaluate a trained model on a dataset",
        description="Accuracy, per-class accuracy, macro F1 and confusion matrix.",
    )
    e.add_argument("model", help="model folder, trained model name, checkpoint file or architecture")
    e.add_argument("--data", required=True, help="dataset file or folder")
    e.add_argument("--format", default="auto")
    e.add_argument("--split", help="only this split of the dataset, e.g. PrivateTest, PublicTest, test")
    e.add_argument(
        "--labels",
        choices=["dataset", "ferplus"],
        default="dataset",
        help="ferplus: score a FER2013 csv against the FER+ majority vote of 10 annotators "
        "(fer2013new.csv beside it or in ../ferplus/); images whose votes have no majority, "
        "or whose majority is unknown, not-a-face or contempt (no class of ours) are left out",
    )
    e.add_argument("--json", action="store_true", help="print the result as JSON (no progress bars)")
    e.add_argument("--quiet", action="store_true", help="no progress bars")
    e.add_argument("--out", help="write confusion CSV/PNG and eval.json here")
    e.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda", "mps"],
        help="auto: CUDA, then Apple MPS, then the CPU",
    )
    e.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "float", "int8"],
        help="auto: the network the live path runs on this device (int8 on the CPU for a model "
        "that ships int8.json, else float)",
    )
    e.add_argument("--batch-size", type=int, default=256)
    e.set_defaults(func=cmd_eval)


_last_error: list[str] = []


def _err(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    _last_error[:] = [msg]
    return 2


def _parse_value(v: str):
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    return v


def _load_data(path: str, fmt: str, progress=None, out_size: tuple[int, int] = (48, 48)):
    """The dataset at ``path`` with faces at ``out_size`` (H, W): the model's ``cfg.crop_size``."""
    from ferapp.data import load_dataset
    from ferapp.data.locate import locate_dataset

    if not Path(path).exists():
        raise FileNotFoundError(f"dataset not found: {path}")
    found = locate_dataset(path)  # a folder holding only CK+48.zip means that archive
    if found.note:
        print(f"note: {found.note}", file=sys.stderr)
    return load_dataset(found.path, format=fmt, progress=progress, out_size=out_size)


class _Bar:
    """``progress(done, total)`` driving a tqdm bar on stderr (like ``train``'s), made at the
    first call; does nothing when disabled (``--quiet`` / ``--json``)."""

    def __init__(self, desc: str, unit: str, enabled: bool = True, unit_scale: bool = False):
        self.desc, self.unit, self.enabled, self.unit_scale = desc, unit, enabled, unit_scale
        self.bar: Any = None  # a tqdm bar from the first call

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                desc=self.desc,
                unit=self.unit,
                unit_scale=self.unit_scale,
                file=sys.stderr,
                dynamic_ncols=True,
                leave=False,
            )
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def print_table(result, file=None) -> None:
    file = file or sys.stdout
    print(
        f"\n{'fold':<28} {'train':>6} {'test':>6} {'epochs':>6} {'accuracy':>9} {'macroF1':>8} {'time':>8}",
        file=file,
    )
    for f in result.folds:
        acc = f"{100 * f.test.accuracy:8.2f}%" if f.test else f"{'-':>9}"
        f1 = f"{100 * f.test.macro_f1:7.2f}%" if f.test else f"{'-':>8}"
        print(
            f"{f.name:<28} {f.n_train:>6} {f.n_test:>6} {f.fit.epochs_completed:>6} {acc} {f1} {f.wall_time_s:7.1f}s",
            file=file,
        )
    if result.mean_accuracy is not None:
        print(
            f"{'mean ± std':<28} {'':>6} {'':>6} {'':>6} {100 * result.mean_accuracy:8.2f}% "
            f"± {100 * result.std_accuracy:.2f}  (macro F1 {100 * result.mean_macro_f1:.2f}%)  "
            f"wall {result.wall_time_s:.1f}s",
            file=file,
        )


def _print_baselines(result, file=None) -> None:
    """The majority-class and chance baselines under the table, and a warning when not beaten."""
    from ferapp.train.baselines import result_baselines

    base = result_baselines(result)
    if base is None:
        return
    print(f"baselines: {base.summary()}", file=file or sys.stdout)
    if base.warning():
        print(f"warning: {base.warning()}", file=sys.stderr)
    for note in result.notes:
        print(f"note: {note}", file=file or sys.stdout)


def cmd_train(args) -> int:
    from ferapp.train import distributed

    if distributed.launched_by_torchrun():  # one rank of a torchrun job: failures go to torchrun's error file

        def work() -> int:
            rc = _train(args)
            if rc not in (0, 130, 143):
                raise distributed.WorkerFailed(
                    _last_error[0] if _last_error else f"ferapp train exited with {rc}"
                )
            return rc

        return distributed.run_worker(work)
    return _train(args)


def _train(args) -> int:
    from ferapp.train import distributed
    from ferapp.zoo.registry import get_model_cfg

    _last_error.clear()
    in_dist = distributed.launched_by_torchrun()
    if in_dist and args.nproc:
        return _err(
            "--nproc starts its own processes: under torchrun leave it out (--nproc-per-node sets the count)"
        )
    main = distributed.env_rank() == 0  # rank 0 alone checks what it will write, prints and writes
    world = args.nproc or distributed.env_world_size()
    try:
        cfg = get_model_cfg(args.model)
    except KeyError as e:
        return _err(str(e.args[0]) if e.args else str(e))
    try:
        overrides, kwargs, folds = _checked_request(args, cfg, main, world)
    except (ValueError, FileExistsError) as e:
        return _err(str(e))
    if args.init_from:
        from ferapp.train.run import init_source_arch

        try:
            src_arch = init_source_arch(args.init_from)
        except Exception as e:
            return _err(f"--init-from {args.init_from}: cannot load model: {e}")
        if src_arch != args.model:
            return _err(f"--init-from {args.init_from} is a {src_arch} model; this run trains {args.model}")
    if args.nproc:
        if not Path(args.data).exists():
            return _err(f"cannot read dataset {args.data}: not found")
        return _launch(args)
    from ferapp.signals import StopOnSignals

    # SIGTERM like Ctrl-C: stop at the next batch, keep last.pt; exit 143 / 130. A torchrun worker
    # gets Ctrl-C twice (terminal, then its agent): it keeps stopping cleanly
    stop = StopOnSignals(once=not distributed.launched_by_torchrun())
    with stop:
        return _run_and_report(args, overrides, kwargs, folds, main, stop)


def _checked_request(args, cfg, main: bool, world: int) -> tuple[dict, dict, list[int] | None]:
    """Every check that can fail before the data loads: (TrainConfig overrides, model kwargs,
    0-based folds or None). Raises ValueError with the message for the user."""
    from ferapp.data.protocols import get_protocol
    from ferapp.train import distributed
    from ferapp.train.checkpoint import load_resumable
    from ferapp.train.options import TrainConfig, cli_overrides
    from ferapp.train.run import check_out_dir, check_save_name
    from ferapp.zoo.registry import check_model_args, get_recipe

    overrides = cli_overrides(args)
    tcfg = TrainConfig.from_recipe(get_recipe(cfg.name), **overrides)  # validate before touching data
    why = distributed.refusal(tcfg.algorithm, world)
    if why:
        raise ValueError(why)
    kwargs = _model_kwargs(args.arg)
    if args.max_train is not None and args.max_train < 1:
        raise ValueError(f"--max-train must be a positive number of images, not {args.max_train}")
    if main and args.resume and not Path(args.resume).is_file():
        raise ValueError(f"resume checkpoint not found: {args.resume}")
    proto = get_protocol(args.protocol)
    folds = _parse_folds(args.folds, proto) if args.folds else None
    try:
        check_model_args(args.model, kwargs)  # known names, values in range, a network that fits
    except ValueError as e:
        raise ValueError(f"--arg: {e}") from None
    if main and args.save:
        check_save_name(args.save)  # before hours of training, not after
    if main and args.out:
        check_out_dir(args.out, args.model)
    if main and args.resume:
        try:
            load_resumable(args.resume, args.model)
        except ValueError as e:
            raise ValueError(f"--resume: {e}") from None
    return overrides, kwargs, folds


def _model_kwargs(pairs: list[str]) -> dict:
    """``--arg KEY=VALUE`` options -> model constructor kwargs (values parsed)."""
    kwargs = {}
    for a in pairs:
        if "=" not in a:
            raise ValueError(f"--arg expects KEY=VALUE, got {a!r}")
        k, v = a.split("=", 1)
        kwargs[k.strip()] = _parse_value(v.strip())
    return kwargs


def _parse_folds(spec: str, proto) -> list[int]:
    """``--folds 1,3`` -> [0, 2], checked against the protocol's fold count now, not after the data loads."""
    parts = [x.strip() for x in spec.split(",") if x.strip()]
    if not parts or not all(x.isdigit() and 1 <= int(x) <= proto.k for x in parts):
        raise ValueError(
            f"--folds takes fold numbers from 1 to {proto.k} (protocol {proto.name} has "
            f"{proto.k} fold{'s' if proto.k > 1 else ''}), not {spec!r}"
        )
    return [int(x) - 1 for x in parts]


def _run_and_report(args, overrides, kwargs, folds, main: bool, stop) -> int:
    from ferapp.train import distributed
    from ferapp.train.callbacks import Callback, EpochLine, ProgressBar
    from ferapp.train.run import run_training
    from ferapp.zoo.registry import get_model_cfg

    try:
        ds = _load_data(args.data, args.format, out_size=get_model_cfg(args.model).crop_size)
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        return _err(f"cannot read dataset {args.data}: {e}")
    if stop.is_set():
        return stop.exit_code()
    if main:
        print(
            f"dataset: {ds.report.format} {len(ds)} images, {ds.report.num_subjects} subjects; "
            f"protocol {args.protocol}; model {args.model}",
            flush=True,
        )
        for w in ds.report.warnings:
            print(f"  note: {w}")
    cbs: list[Callback] = ([EpochLine()] + ([] if args.quiet else [ProgressBar()])) if main else []
    try:
        res = run_training(
            args.model,
            ds,
            args.protocol,
            overrides=overrides,
            out_dir=args.out,
            callbacks=cbs,
            cancel=stop.event,
            model_kwargs=kwargs,
            save_name=args.save,
            folds=folds,
            max_train=args.max_train,
            auto_threads=True,
            dist_timeout_s=args.dist_timeout or distributed.DEFAULT_TIMEOUT_S,
        )
    except KeyboardInterrupt:  # a second Ctrl-C outside the trainer's funnel
        print("cancelled", file=sys.stderr)
        return 130
    finally:
        distributed.shutdown()
    if main:
        print_table(res)
        _print_baselines(res)
    if res.outcome == "finished":
        if main:
            print(f"report: {res.report_path}\nmodel: {res.best_model_dir}")
        return 0
    if main or res.outcome == "failed":
        print(f"{res.outcome}: {res.message}", file=sys.stderr)
    if res.report_path:
        print(f"partial report: {res.report_path}", file=sys.stderr)
    if res.outcome == "cancelled":
        return stop.exit_code()
    _last_error[:] = [res.message]
    if distributed.launched_by_torchrun() and res.traceback:
        print(res.traceback, file=sys.stderr)
    return 1


def _worker_argv(args) -> list[str]:
    """This ``train`` command line again, without the launcher's own flags (from the parser's actions)."""
    skip = {"nproc", "max_restarts", "func", "_parser", "help"}
    out = ["train"]
    for a in args._parser._actions:
        if a.dest in skip or not a.option_strings:
            continue
        v = getattr(args, a.dest, None)
        if v is None or v == a.default:
            continue
        flag = a.option_strings[-1] if a.option_strings[-1].startswith("--") else a.option_strings[0]
        if isinstance(a, argparse._StoreTrueAction):
            out.append(flag)
        elif isinstance(a, argparse._AppendAction):
            for item in v:
                out += [flag, str(item)]
        else:
            out += [flag, str(v)]
    return out


def _launch(args) -> int:
    """``--nproc N``: the same command in N processes under torchrun's elastic launcher, one run
    folder and one run id for every rank and every restart."""
    import uuid

    from ferapp.train import distributed
    from ferapp.train.run import _default_out_dir

    out = args.out or str(_default_out_dir(args.model))
    args.out = out
    argv = _worker_argv(args)
    # each worker sets its torch threads (--threads, else the default of options.default_threads);
    # OMP_NUM_THREADS only spares torchrun's warning about setting it
    env = {"FERAPP_RUN_ID": uuid.uuid4().hex[:12], "OMP_NUM_THREADS": str(args.num_threads or 1)}
    print(
        f"starting {args.nproc} training processes (torch.distributed, "
        f"{'nccl' if (args.device or 'auto') != 'cpu' and _cuda() else 'gloo'}); run folder {out}",
        flush=True,
    )
    return distributed.launch(argv, args.nproc, args.max_restarts, env)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _eval_data(args, bars: bool, out_size: tuple[int, int]):
    """The dataset to evaluate on, its faces at the model's ``out_size`` (H, W) (FER+ majority
    labels if asked), cut to ``--split``.
    Raises ValueError with the message for the user."""
    import numpy as np

    csv_like = str(args.data).lower().endswith((".csv", ".gz"))  # progress counts bytes of a csv, else files
    loading = _Bar("reading dataset", "B" if csv_like else "file", bars, unit_scale=csv_like)
    try:
        if args.labels == "ferplus":
            from ferapp.data import load_dataset

            ds = load_dataset(
                args.data, format=args.format, ferplus="majority", progress=loading, out_size=out_size
            )
        else:
            ds = _load_data(args.data, args.format, loading, out_size)
    except Exception as e:
        raise ValueError(f"cannot read dataset {args.data}: {e}") from None
    finally:
        loading.close()
    if args.split:
        splits = np.asarray(ds.splits, dtype=str)
        keep = np.flatnonzero(np.char.lower(splits) == args.split.lower())
        if len(keep) == 0:
            have = sorted({s for s in splits if s})
            raise ValueError(
                f"split {args.split!r} not in this dataset (splits: {', '.join(have) or 'none'})"
            )
        ds = ds.subset(keep)
    return ds


def _eval_device(args, loaded) -> str:
    """The device ``--device`` names here; ValueError when ``--precision int8`` cannot run."""
    from ferapp.inference.device import resolve_device

    wanted = str(resolve_device(args.device))
    if args.precision == "int8" and (wanted != "cpu" or not loaded.has_int8):
        raise ValueError(
            f"{args.model} has no int8 network "
            + (
                "on this device: int8 runs on the CPU (--device cpu)"
                if wanted != "cpu"
                else "(no int8.onnx or int8.json in its folder)"
            )
        )
    return wanted


def _evaluate_on(wanted: str, args, loaded, ds, bars: bool):
    """(device, precision, runtime, EvalResult): the network the live path runs (``inference_net``: int8
    on the CPU where the model ships it), on ``wanted``, or on the CPU with a message when an
    accelerator lacks an operation."""
    from ferapp.inference.device import with_cpu_fallback
    from ferapp.inference.engine import inference_net
    from ferapp.train.evaluate import evaluate

    def run(dev):
        loaded.model.to(dev)
        net, prec = inference_net(loaded, str(dev), args.precision)
        bar = _Bar("evaluating", "img", bars)
        try:
            return (
                prec,
                getattr(net, "runtime", "torch"),
                evaluate(
                    loaded.model, loaded.cfg, ds, device=dev, batch=args.batch_size, net=net, progress=bar
                ),
            )
        finally:
            bar.close()

    device, (precision, runtime, res), _ = with_cpu_fallback(wanted, run, f"model {args.model}")
    return device, precision, runtime, res


def _print_eval(args, arch: str, res, res_ece: float | None, where: str) -> None:
    print(
        f"model {args.model} ({arch}) on {args.data}"
        + (f" [{args.split}]" if args.split else "")
        + f": {res.n} images ({where})"
    )
    if args.labels == "ferplus":
        print("labels: FER+ majority vote (no-majority, unknown, not-a-face and contempt images left out)")
    print(
        f"accuracy {100 * res.accuracy:.2f}%   macro F1 {100 * res.macro_f1:.2f}%"
        + (f"   ECE {100 * res_ece:.2f}%" if res_ece is not None else "")
    )
    for lab, acc in res.per_class_accuracy.items():
        print(f"  {lab:<10} {'absent' if acc is None else f'{100 * acc:6.2f}%'}")
    labs = list(res.labels)
    print("confusion (rows true, cols predicted):")
    print("           " + " ".join(f"{lab[:7]:>7}" for lab in labs))
    for lab, row in zip(labs, res.confusion, strict=True):
        print(f"  {lab[:8]:<8} " + " ".join(f"{int(v):>7}" for v in row))


def cmd_eval(args) -> int:
    from ferapp.train.evaluate import write_eval_artifacts
    from ferapp.zoo.errors import CheckpointError
    from ferapp.zoo.store import resolve_model

    if args.batch_size < 1:
        return _err(f"--batch-size must be a positive integer, not {args.batch_size}")
    if args.out:  # before minutes of evaluation, not after
        from ferapp.safeio import check_writable_dir

        why = check_writable_dir(args.out)
        if why:
            return _err(f"--out {args.out}: {why}")
    try:
        loaded = resolve_model(args.model)
    except (KeyError, CheckpointError, FileNotFoundError, ValueError) as e:
        return _err(f"cannot load model {args.model}: {e.args[0] if e.args else e}")
    if not loaded.trained:
        print(
            f"warning: {args.model} is an untrained architecture; accuracy will be at chance level",
            file=sys.stderr,
        )
    bars = not (args.quiet or args.json)
    try:
        ds = _eval_data(args, bars, loaded.cfg.crop_size)
    except ValueError as e:
        return _err(str(e))
    try:
        wanted = _eval_device(args, loaded)
    except (RuntimeError, ValueError) as e:
        return _err(str(e))
    try:
        device, precision, runtime, res = _evaluate_on(wanted, args, loaded, ds, bars)
        from ferapp.train.calibration import ece

        res_ece = ece(res.probs, res.y) if res.probs is not None and res.y is not None else None
    except Exception as e:
        print(f"error: evaluation failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    info = {
        "model": args.model,
        "arch": loaded.cfg.name,
        "device": str(device),
        "precision": precision,
        "runtime": runtime,
        "data": args.data,
        "split": args.split,
        "labels": args.labels,
        "dataset_fingerprint": ds.fingerprint,
        "ece": res_ece,
    }
    if args.out:
        try:
            paths = write_eval_artifacts(
                res, args.out, stem="eval", title=f"{args.model}: {res.accuracy:.2%}", extra=info
            )
        except OSError as e:  # checked writable at the start; the disk filled up or the folder went away
            print(
                f"error: cannot write the results to {args.out}: {e.strerror or e} (accuracy "
                f"{100 * res.accuracy:.2f}% on {res.n} images)",
                file=sys.stderr,
            )
            return 1
        info["artifacts"] = paths
    if args.json:
        from ferapp.train.evaluate import _jsonable

        print(json.dumps(_jsonable({**info, "result": res.to_dict()}), indent=2))
        return 0
    _print_eval(args, loaded.cfg.name, res, res_ece, f"{precision} through {runtime} on {device}")
    if args.out:
        print(f"written: {', '.join(info['artifacts'].values())}")
    return 0


def main(argv=None) -> int:
    """Standalone entry (``python -m ferapp.train.commands train ...``) until the main CLI wires it."""
    ap = argparse.ArgumentParser(prog="ferapp")
    sub = ap.add_subparsers(dest="command", required=True)
    add_parsers(sub)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

"""``ferapp train`` and ``ferapp eval`` (registered on the main CLI by ``add_parsers``).

Each handler returns an exit code: 0 success, 1 the run failed, 2 bad input (unknown model,
unreadable data, bad checkpoint, bad option), 130 cancelled (Ctrl-C; a checkpoint is kept).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

from ferapp.train.options import add_cli_flags


def add_parsers(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a model zoo architecture on a dataset",
                              description="Train an architecture under a protocol; per fold: train, test, "
                                          "checkpoint; then report.json, confusion matrix and a model folder.")
    p.add_argument("--model", required=True, help="architecture name (see `ferapp models`)")
    p.add_argument("--data", required=True, help="dataset file or folder (FER2013 csv, CK+48 zip, image folders...)")
    p.add_argument("--format", default="auto", help="dataset format (default: auto-detect)")
    p.add_argument("--protocol", default="official",
                   help="official | kfold-<k> | subject-<k>fold | holdout-<pct> | p1-jaffe | p1-ck | p2 | p4 | p5")
    p.add_argument("--out", help="run folder (default: <user data>/ferapp/runs/<model>-<time>, the folder the "
                                 "training wizard uses; FERAPP_RUNS_DIR overrides)")
    p.add_argument("--folds", help="1-based fold numbers to run, e.g. 1,3 (default: all)")
    p.add_argument("--max-train", type=int, help="cap training images per fold (stratified subsample)")
    p.add_argument("--save", metavar="NAME", help="also install the trained model as NAME in the user model store "
                   "(it then appears in the GUI's Model list and in `ferapp models`)")
    p.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE",
                   help="model constructor argument (repeatable), e.g. --arg width_mult=0.5")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_cli_flags(p)  # every training option of the schema (ferapp.train.options)
    p.set_defaults(func=cmd_train)

    e = subparsers.add_parser("eval", help="evaluate a trained model on a dataset",
                              description="Accuracy, per-class accuracy, macro F1 and confusion matrix.")
    e.add_argument("model", help="model folder, trained model name, checkpoint file or architecture")
    e.add_argument("--data", required=True, help="dataset file or folder")
    e.add_argument("--format", default="auto")
    e.add_argument("--split", help="only this split of the dataset, e.g. PrivateTest, PublicTest, test")
    e.add_argument("--labels", choices=["dataset", "ferplus"], default="dataset",
                   help="ferplus: score a FER2013 csv against the FER+ majority vote of 10 annotators "
                        "(fer2013new.csv beside it or in ../ferplus/); images whose votes have no majority, "
                        "or whose majority is unknown, not-a-face or contempt (no class of ours) are left out")
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    e.add_argument("--out", help="write confusion CSV/PNG and eval.json here")
    e.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                   help="auto: CUDA, then Apple MPS, then the CPU")
    e.add_argument("--precision", default="auto", choices=["auto", "float", "int8"],
                   help="auto: the network the live path runs on this device (int8 on the CPU for a model "
                        "that ships int8.json, else float)")
    e.add_argument("--batch-size", type=int, default=256)
    e.set_defaults(func=cmd_eval)


def _err(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
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


def _load_data(path: str, fmt: str):
    from ferapp.data import load_dataset

    if not Path(path).exists():
        raise FileNotFoundError(f"dataset not found: {path}")
    return load_dataset(path, format=fmt)


def print_table(result, file=None) -> None:
    file = file or sys.stdout
    print(f"\n{'fold':<28} {'train':>6} {'test':>6} {'epochs':>6} {'accuracy':>9} {'macroF1':>8} {'time':>8}", file=file)
    for f in result.folds:
        acc = f"{100 * f.test.accuracy:8.2f}%" if f.test else f"{'-':>9}"
        f1 = f"{100 * f.test.macro_f1:7.2f}%" if f.test else f"{'-':>8}"
        print(f"{f.name:<28} {f.n_train:>6} {f.n_test:>6} {f.fit.epochs_completed:>6} {acc} {f1} {f.wall_time_s:7.1f}s",
              file=file)
    if result.mean_accuracy is not None:
        print(f"{'mean ± std':<28} {'':>6} {'':>6} {'':>6} {100 * result.mean_accuracy:8.2f}% "
              f"± {100 * result.std_accuracy:.2f}  (macro F1 {100 * result.mean_macro_f1:.2f}%)  "
              f"wall {result.wall_time_s:.1f}s", file=file)


def cmd_train(args) -> int:
    from ferapp.train.callbacks import EpochLine, ProgressBar
    from ferapp.train.options import TrainConfig, cli_overrides
    from ferapp.train.run import run_training
    from ferapp.zoo.registry import get_model_cfg

    try:
        cfg = get_model_cfg(args.model)
    except KeyError as e:
        return _err(str(e.args[0]) if e.args else str(e))
    try:
        overrides = cli_overrides(args)
        TrainConfig.from_recipe(cfg.recipe, **overrides)  # validate before touching data
        kwargs = {}
        for a in args.arg:
            if "=" not in a:
                return _err(f"--arg expects KEY=VALUE, got {a!r}")
            k, v = a.split("=", 1)
            kwargs[k.strip()] = _parse_value(v.strip())
        folds = None
        if args.folds:
            folds = [int(x) - 1 for x in args.folds.split(",") if x.strip()]
        if args.resume and not Path(args.resume).is_file():
            return _err(f"resume checkpoint not found: {args.resume}")
        from ferapp.data.protocols import get_protocol
        from ferapp.train.run import check_resume, check_save_name

        get_protocol(args.protocol)
        if args.save:
            check_save_name(args.save)  # before hours of training, not after
        if args.resume:
            check_resume(args.resume, args.model)
    except (ValueError, FileExistsError) as e:
        return _err(str(e))
    except Exception as e:  # noqa: BLE001 - an unreadable --resume checkpoint
        return _err(f"--resume {args.resume}: {e}")
    if args.init_from:
        from ferapp.train.run import init_source_arch

        try:
            src_arch = init_source_arch(args.init_from)
        except Exception as e:  # noqa: BLE001
            return _err(f"--init-from {args.init_from}: cannot load model: {e}")
        if src_arch != args.model:
            return _err(f"--init-from {args.init_from} is a {src_arch} model; this run trains {args.model}")
    try:
        ds = _load_data(args.data, args.format)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001
        return _err(f"cannot read dataset {args.data}: {e}")
    print(f"dataset: {ds.report.format} {len(ds)} images, {ds.report.num_subjects} subjects; "
          f"protocol {args.protocol}; model {args.model}", flush=True)
    for w in ds.report.warnings:
        print(f"  note: {w}")
    cbs = [EpochLine()] + ([] if args.quiet else [ProgressBar()])
    cancel = threading.Event()
    try:
        res = run_training(args.model, ds, args.protocol, overrides=overrides, out_dir=args.out, callbacks=cbs,
                           cancel=cancel, model_kwargs=kwargs, save_name=args.save, folds=folds,
                           max_train=args.max_train)
    except KeyboardInterrupt:  # a second Ctrl-C outside the trainer's funnel
        print("cancelled", file=sys.stderr)
        return 130
    print_table(res)
    if res.outcome == "finished":
        print(f"report: {res.report_path}\nmodel: {res.best_model_dir}")
        return 0
    print(f"{res.outcome}: {res.message}", file=sys.stderr)
    if res.report_path:
        print(f"partial report: {res.report_path}", file=sys.stderr)
    return 130 if res.outcome == "cancelled" else 1


def cmd_eval(args) -> int:
    import numpy as np

    from ferapp.train.evaluate import evaluate, write_eval_artifacts
    from ferapp.train.trainer import resolve_device
    from ferapp.zoo.errors import CheckpointError
    from ferapp.zoo.store import resolve_model

    try:
        loaded = resolve_model(args.model)
    except (KeyError, CheckpointError, FileNotFoundError, ValueError) as e:
        return _err(f"cannot load model {args.model}: {e.args[0] if e.args else e}")
    if not loaded.trained:
        print(f"warning: {args.model} is an untrained architecture; accuracy will be at chance level",
              file=sys.stderr)
    try:
        if args.labels == "ferplus":
            from ferapp.data import load_dataset

            ds = load_dataset(args.data, format=args.format, ferplus="majority")
        else:
            ds = _load_data(args.data, args.format)
    except Exception as e:  # noqa: BLE001
        return _err(f"cannot read dataset {args.data}: {e}")
    if args.split:
        splits = np.asarray(ds.splits, dtype=str)
        keep = np.flatnonzero(np.char.lower(splits) == args.split.lower())
        if len(keep) == 0:
            have = sorted({s for s in splits if s})
            return _err(f"split {args.split!r} not in this dataset (splits: {', '.join(have) or 'none'})")
        ds = ds.subset(keep)
    try:
        wanted = str(resolve_device(args.device))
    except (RuntimeError, ValueError) as e:
        return _err(str(e))
    if args.precision == "int8" and (wanted != "cpu" or loaded.int8_path is None):
        return _err(f"{args.model} has no int8 network " + ("on this device: int8 runs on the CPU (--device cpu)"
                                                           if wanted != "cpu" else "(no int8.json in its folder)"))
    try:
        from ferapp.inference.device import with_cpu_fallback
        from ferapp.inference.engine import inference_net

        def run(dev):
            loaded.model.to(dev)
            net, prec = inference_net(loaded, str(dev), args.precision)
            return prec, evaluate(loaded.model, loaded.cfg, ds, device=dev, batch=args.batch_size, net=net)

        device, (precision, res), _ = with_cpu_fallback(wanted, run, f"model {args.model}")
        from ferapp.train.calibration import ece

        res_ece = ece(res.probs, res.y) if res.probs is not None else None
    except Exception as e:  # noqa: BLE001
        print(f"error: evaluation failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    info = {"model": args.model, "arch": loaded.cfg.name, "device": str(device), "precision": precision,
            "data": args.data, "split": args.split,
            "labels": args.labels, "dataset_fingerprint": ds.fingerprint, "ece": res_ece}
    if args.out:
        paths = write_eval_artifacts(res, args.out, stem="eval", title=f"{args.model}: {res.accuracy:.2%}", extra=info)
        info["artifacts"] = paths
    if args.json:
        from ferapp.train.evaluate import _jsonable

        print(json.dumps(_jsonable({**info, "result": res.to_dict()}), indent=2))
        return 0
    print(f"model {args.model} ({loaded.cfg.name}) on {args.data}" + (f" [{args.split}]" if args.split else "")
          + f": {res.n} images ({precision} on {device})")
    if args.labels == "ferplus":
        print("labels: FER+ majority vote (no-majority, unknown, not-a-face and contempt images left out)")
    print(f"accuracy {100 * res.accuracy:.2f}%   macro F1 {100 * res.macro_f1:.2f}%   "
          f"ECE {100 * res_ece:.2f}%" if res_ece is not None else "")
    for lab, acc in res.per_class_accuracy.items():
        print(f"  {lab:<10} {'absent' if acc is None else f'{100 * acc:6.2f}%'}")
    labs = list(res.labels)
    print("confusion (rows true, cols predicted):")
    print("           " + " ".join(f"{lab[:7]:>7}" for lab in labs))
    for lab, row in zip(labs, res.confusion, strict=True):
        print(f"  {lab[:8]:<8} " + " ".join(f"{int(v):>7}" for v in row))
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

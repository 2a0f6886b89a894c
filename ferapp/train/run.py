"""``run_training``: the importable API the CLI and the GUI wizard drive (from a worker thread).

One call = one run over a protocol's folds: per fold a fresh model is trained (``Trainer``) and
evaluated on the fold's test part; afterwards ``report.json`` (per fold + mean +- std,
per-class, macro F1, confusion, protocol, dataset fingerprint, wall time, hardware, recipe,
torch version), the pooled confusion matrix (CSV + PNG) and a model folder (weights +
config.json + model card README.md) are written. A run ends exactly once: the callbacks'
``on_run_end`` receives the ``RunResult`` whose ``outcome`` is finished / cancelled / failed.

The run folder is ferapp's: ``run.json`` marks it, and a run refuses a non-empty ``out_dir``
that is not a ferapp run of the same architecture (:func:`check_out_dir`), so it never deletes
or overwrites a file it did not write. Under torchrun (``ferapp train --nproc N``) every rank
calls ``run_training``; rank 0 alone writes, and after an elastic restart each fold continues
from its own ``last.pt`` (``ferapp.train.distributed``).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ferapp.train import distributed
from ferapp.train.callbacks import Callback, CallbackList, CheckpointCallback
from ferapp.train.evaluate import (
    EvalResult,
    aggregate,
    confusion_matrix,
    metrics_from_confusion,
    write_confusion_csv,
    write_confusion_png,
    write_json,
)
from ferapp.train.trainer import EncodedSet, FitResult, TrainConfig, Trainer, encode_dataset, torch_device


@dataclass
class FoldResult:
    name: str
    fit: FitResult
    test: EvalResult | None
    n_train: int
    n_val: int
    n_test: int
    wall_time_s: float
    out_dir: str

    @property
    def accuracy(self) -> float | None:
        return self.test.accuracy if self.test else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "outcome": self.fit.outcome,
            "message": self.fit.message,
            "n_train": self.n_train,
            "n_val": self.n_val,
            "n_test": self.n_test,
            "epochs_completed": self.fit.epochs_completed,
            "global_step": self.fit.global_step,
            "best_val_acc": self.fit.best_val_acc,
            "best_epoch": self.fit.best_epoch,
            "stop_reason": self.fit.stop_reason,
            "wall_time_s": self.wall_time_s,
            "history": self.fit.history,
            "test": self.test.to_dict() if self.test else None,
            "checkpoint_best": self.fit.best_checkpoint,
            "checkpoint_last": self.fit.last_checkpoint,
        }


@dataclass
class RunResult:
    outcome: str  # finished | cancelled | failed
    message: str = ""
    folds: list[FoldResult] = field(default_factory=list)
    mean_accuracy: float | None = None
    std_accuracy: float | None = None
    mean_macro_f1: float | None = None
    report_path: str | None = None
    # the trained model folder: with one fold, its best-by-validation weights; with k folds (an
    # evaluation protocol), the last fold's model (every fold's checkpoints stay in its folder)
    best_model_dir: str | None = None
    out_dir: str | None = None
    arch: str = ""
    protocol: str = ""
    wall_time_s: float = 0.0
    traceback: str = ""
    notes: list[str] = field(default_factory=list)


def hardware_string(device: torch.device | None = None) -> str:
    threads = torch.get_num_threads()
    if device is not None and device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}), {threads} CPU threads"
    from ferapp.inference.device import cpu_name

    return f"CPU {cpu_name()}, {threads} torch threads ({os.cpu_count()} logical cores)"


def _default_out_dir(arch: str) -> Path:
    """``<runs_dir>/<arch>-<date-time>``: the same folder the training wizard uses. Under torchrun
    with a rendezvous id, ``<runs_dir>/<arch>-<id>`` (the same folder after an elastic restart)."""
    from ferapp.paths import runs_dir

    if distributed.launched_by_torchrun() and distributed.run_id():
        return runs_dir() / f"{arch}-{distributed.run_id()}"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return runs_dir() / f"{arch}-{stamp}"


RUN_MARKER = "run.json"
MODEL_FILES = frozenset({"config.json", "model.pt", "model.packed.npz", "README.md", "report.json"})


def check_out_dir(out: str | os.PathLike, arch: str) -> None:
    """ValueError unless ``out`` may hold this run: absent, empty, or a ferapp run folder of ``arch``
    (``run.json``, or an older run's ``report.json``) whose ``model/`` holds only ferapp's files.
    A run never deletes or overwrites a file it did not write."""
    import json

    out = Path(out)
    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    names = sorted(p.name for p in out.iterdir())
    if not names:
        return
    kind = None
    for marker, key in ((RUN_MARKER, "ferapp_run"), ("report.json", "ferapp_report")):
        try:
            meta = json.loads((out / marker).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get(key):
            kind = str(meta.get("arch"))
            break
    if kind is None:
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise ValueError(
            f"--out {out} is not empty and is not a ferapp run folder (it holds {shown}); "
            "choose a new or empty folder (ferapp never deletes files it did not write)"
        )
    if kind != arch:
        raise ValueError(f"--out {out} holds a ferapp run of {kind}, not {arch}: choose another folder")
    model = out / "model"
    if model.is_dir():
        alien = sorted(
            p.name for p in model.iterdir() if p.name not in MODEL_FILES and not p.name.startswith(".")
        )
        if alien:
            raise ValueError(
                f"{model} holds files ferapp did not write ({', '.join(alien[:5])}); "
                "move them away or choose another --out"
            )


def _write_marker(out: Path, arch: str, protocol: str) -> None:
    meta = {
        "ferapp_run": 1,
        "arch": arch,
        "protocol": protocol,
        "run_id": distributed.run_id(),
        "world_size": distributed.context().world_size,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if not (out / RUN_MARKER).exists():
        write_json(meta, out / RUN_MARKER)


def _resolve_data(data, data_format: str, load_kwargs: dict | None, crop_size: tuple[int, int]):
    """The dataset with faces at the model's ``crop_size`` (H, W), the size live frames are
    aligned to for it: a path is read at that size, a FaceDataset (the wizard's) re-read if needed."""
    from ferapp.data import at_crop_size, load_dataset
    from ferapp.data.base import FaceDataset

    if isinstance(data, FaceDataset):
        return at_crop_size(data, crop_size)

    return load_dataset(data, format=data_format, **{"out_size": crop_size, **(load_kwargs or {})})


def _subsample(idx: np.ndarray, labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """At most n indices, stratified by class (keeps every class present when possible)."""
    if n is None or len(idx) <= n:
        return idx
    rng = np.random.default_rng(seed)
    idx = rng.permutation(idx)
    classes = np.unique(labels[idx])
    per = {c: idx[labels[idx] == c] for c in classes}
    frac = n / len(idx)
    out = [v[: max(1, int(round(len(v) * frac)))] for v in per.values()]
    return np.sort(np.concatenate(out)[:n])


def run_training(
    arch: str,
    data,
    protocol: str = "official",
    *,
    overrides: dict | None = None,
    out_dir: str | os.PathLike | None = None,
    callbacks: list[Callback] | None = None,
    cancel: threading.Event | None = None,
    model_kwargs: dict | None = None,
    save_name: str | None = None,
    folds: list[int] | None = None,
    max_train: int | None = None,
    data_format: str = "auto",
    load_kwargs: dict | None = None,
    auto_threads: bool = False,
    dist_timeout_s: float = distributed.DEFAULT_TIMEOUT_S,
) -> RunResult:
    """Train + evaluate ``arch`` on ``data`` (path or FaceDataset) under ``protocol``.

    ``overrides``: TrainConfig fields (epochs, batch_size, lr, device, seed, ...). ``folds``:
    0-based fold indices to run (default all). ``max_train``: cap on training images per fold
    (stratified subsample; for quick runs). ``save_name``: also copy the model folder to the
    user's model store under that name. Never raises: errors end the run as ``failed``.

    ``auto_threads``: without ``num_threads`` use ``ferapp train``'s default
    (:func:`ferapp.train.options.default_threads`) instead of torch's.

    Under torchrun it joins the process group first (``dist_timeout_s`` bounds every collective)
    and trains one model with all ranks; rank 0 alone writes.
    """
    t0 = time.perf_counter()
    cbs = list(callbacks or [])
    cb = CallbackList(cbs)
    cancel = cancel if cancel is not None else threading.Event()
    overrides = dict(overrides or {})
    out = Path(out_dir) if out_dir else _default_out_dir(arch)
    result = RunResult(outcome="failed", arch=arch, protocol=protocol, out_dir=str(out))
    try:
        ctx = distributed.init(str(overrides.get("device") or "auto"), dist_timeout_s)
        out = Path(distributed.main_decides(str(out), ctx))  # one folder for the whole job
        result.out_dir = str(out)
        cb.on_run_start({"arch": arch, "protocol": protocol, "out_dir": str(out), "overrides": overrides})
        _run(
            result,
            _RunArgs(
                arch,
                data,
                protocol,
                overrides,
                out,
                cbs,
                cb,
                cancel,
                model_kwargs or {},
                save_name,
                folds,
                max_train,
                data_format,
                load_kwargs,
                auto_threads,
            ),
        )
    except Exception as e:  # the run's one funnel
        result.outcome, result.message, result.traceback = (
            "failed",
            f"{type(e).__name__}: {e}",
            traceback.format_exc(),
        )
    result.wall_time_s = time.perf_counter() - t0
    cb.on_run_end(result)
    return result


@dataclass
class _RunArgs:
    """What :func:`run_training` asks of :func:`_run`, as one object."""

    arch: str
    data: Any
    protocol: str
    overrides: dict
    out: Path
    callbacks: list[Callback]
    cb: CallbackList
    cancel: threading.Event
    model_kwargs: dict
    save_name: str | None = None
    folds: list[int] | None = None
    max_train: int | None = None
    data_format: str = "auto"
    load_kwargs: dict | None = None
    auto_threads: bool = False


@dataclass
class _Plan:
    """Everything the folds of a run share, decided once before the first fold."""

    ds: Any
    proto: Any
    tcfg: TrainConfig
    run_cfg: Any
    labels: tuple[str, ...]
    model_kwargs: dict
    all_folds: list
    chosen: list[int]
    ctx: Any
    restarted: bool
    params: int
    enc: Any
    keep: np.ndarray | None
    device: Any

    @property
    def main(self) -> bool:  # rank 0 alone writes
        return bool(self.ctx.is_main)


def _run(result: RunResult, a: _RunArgs) -> None:
    plan = _plan_run(result, a)
    fold_results: list[FoldResult] = []
    last_model = None
    for k, fi in enumerate(plan.chosen):
        fr, model = _run_fold(result, a, plan, k, fi)
        fold_results.append(fr)
        result.folds = fold_results
        a.cb.on_fold_end(fr.name, fr)
        if fr.fit.outcome != "finished":
            result.outcome, result.message, result.traceback = (
                fr.fit.outcome,
                fr.fit.message,
                fr.fit.traceback,
            )
            if plan.main:
                _write_report(
                    result,
                    a.out,
                    plan.ds,
                    plan.proto,
                    plan.run_cfg,
                    plan.tcfg,
                    plan.device,
                    fold_results,
                    False,
                    plan.params,
                )
            return
        last_model = model
    tested = [f.test for f in fold_results if f.test is not None]
    if tested:
        agg = aggregate(tested)
        result.mean_accuracy, result.std_accuracy = agg["mean_accuracy"], agg["std_accuracy"]
        result.mean_macro_f1 = agg["mean_macro_f1"]
    result.outcome = "finished"
    result.wall_time_s = sum(f.wall_time_s for f in fold_results)
    if not plan.main:
        return
    report = _write_report(
        result,
        a.out,
        plan.ds,
        plan.proto,
        plan.run_cfg,
        plan.tcfg,
        plan.device,
        fold_results,
        True,
        plan.params,
    )
    if last_model is not None:
        result.best_model_dir = str(_save_model(a.out / "model", last_model, report))
        if a.save_name:
            save_to_user_models(result, a.save_name)


def _plan_run(result: RunResult, a: _RunArgs) -> _Plan:
    """Check the request (model, protocol, data, folds, distributed mode), claim the output
    folder and encode the dataset once."""
    from ferapp.data.protocols import get_protocol
    from ferapp.zoo.registry import create_model, get_model_cfg, get_recipe

    cfg = get_model_cfg(a.arch)  # unknown names fail here with the list of known ones
    tcfg = TrainConfig.from_recipe(get_recipe(a.arch), **a.overrides)
    proto = get_protocol(a.protocol)
    ds = _usable_dataset(result, a, cfg.crop_size)
    kwargs = dict(a.model_kwargs)
    labels = tuple(ds.label_names)
    if labels != tuple(cfg.labels):
        kwargs.setdefault("num_classes", len(labels))
    all_folds, chosen = _chosen_folds(proto, ds, tcfg, a.folds)
    ctx = distributed.context()
    why = distributed.refusal(tcfg.algorithm, ctx.world_size)
    if why:
        raise ValueError(why)
    if ctx.is_main:
        check_out_dir(a.out, a.arch)
        a.out.mkdir(parents=True, exist_ok=True)
        _write_marker(a.out, a.arch, proto.name)
    restarted = distributed.restart_count() > 0 and bool(distributed.run_id())
    probe = create_model(a.arch, **kwargs)
    run_cfg = probe.cfg.replace(labels=labels)
    params = int(sum(p.numel() for p in probe.parameters()))
    del probe
    if a.auto_threads and tcfg.num_threads is None:
        from ferapp.train.options import default_threads

        tcfg = dataclasses.replace(tcfg, num_threads=default_threads(params, ctx.local_world_size))
    enc = encode_dataset(ds, run_cfg)  # preprocess_face once for the whole dataset
    keep = None
    if tcfg.soft_targets or tcfg.distill_from:
        from ferapp.train.targets import build_targets

        train_rows = np.unique(np.concatenate([np.asarray(all_folds[i].train_idx) for i in chosen]))
        targets, keep, notes = build_targets(ds, tcfg, labels, train_rows)
        enc.t = torch.from_numpy(targets)
        result.notes += notes
    return _Plan(
        ds,
        proto,
        tcfg,
        run_cfg,
        labels,
        kwargs,
        all_folds,
        chosen,
        ctx,
        restarted,
        params,
        enc,
        keep,
        torch_device(tcfg.device),
    )


def _usable_dataset(result: RunResult, a: _RunArgs, crop_size: tuple[int, int]):
    """The dataset at the model's crop size, without classes that have no image (noted in the result)."""
    from ferapp.data.planning import without_empty_classes

    ds = _resolve_data(a.data, a.data_format, a.load_kwargs, crop_size)
    if len(ds) == 0:
        raise ValueError("the dataset has no images")
    ds, empty = without_empty_classes(
        ds
    )  # no output for a class without images (it would be guessed blindly)
    if empty:
        result.notes.append(
            f"no images of {', '.join(empty)}: the model has no output for "
            f"{'it' if len(empty) == 1 else 'them'} and never predicts "
            f"{'it' if len(empty) == 1 else 'them'}"
        )
    return ds


def _chosen_folds(proto, ds, tcfg: TrainConfig, fold_sel: list[int] | None) -> tuple[list, list[int]]:
    all_folds = proto.folds(ds, seed=tcfg.seed)
    chosen = list(range(len(all_folds))) if fold_sel is None else list(fold_sel)
    bad = [i for i in chosen if not 0 <= i < len(all_folds)]
    if bad:
        raise ValueError(f"fold index {bad} out of range: protocol {proto.name} has {len(all_folds)} folds")
    if tcfg.resume and len(chosen) != 1:
        raise ValueError(
            f"resume continues one fold; protocol {proto.name} has {len(all_folds)} folds: "
            "choose the checkpoint's fold (folds=[i] / --folds N)"
        )
    return all_folds, chosen


def _run_fold(result: RunResult, a: _RunArgs, plan: _Plan, k: int, fi: int) -> tuple[FoldResult, Any]:
    """Train fold ``fi`` (the ``k``-th chosen) and test it if it finished; returns its result and model."""
    from ferapp.zoo.registry import create_model

    fold, tcfg, labels, y_all = plan.all_folds[fi], plan.tcfg, plan.labels, np.asarray(plan.ds.labels)
    tf = time.perf_counter()
    fold_dir = a.out / f"fold{fi + 1}"
    train_idx = np.asarray(fold.train_idx)
    if plan.keep is not None:
        train_idx = train_idx[plan.keep[train_idx]]
    train_idx = _subsample(train_idx, y_all, a.max_train, tcfg.seed + fi)
    a.cb.on_fold_start(fold.name, k, len(plan.chosen))
    torch.manual_seed(tcfg.seed)
    model = create_model(a.arch, **plan.model_kwargs)
    model.cfg = model.cfg.replace(labels=labels)
    resume = tcfg.resume
    if plan.restarted:  # an elastic restart re-runs the command: continue from this run's own checkpoint
        resume = _own_checkpoint(fold_dir, plan.ctx) or resume
    if tcfg.init_from and not resume:
        _init_weights(model, tcfg.init_from)
    ftcfg = dataclasses.replace(tcfg, out_dir=str(fold_dir), resume=resume)
    ckpt = [CheckpointCallback(fold_dir, every=tcfg.checkpoint_every or 0)] if plan.main else []
    trainer = Trainer(model, model.cfg, ftcfg, CallbackList(a.callbacks + ckpt), a.cancel, manage_run=False)
    val = plan.enc.subset(fold.val_idx) if len(fold.val_idx) else None
    fit = trainer.fit(plan.enc.subset(train_idx), val)
    test_res = None
    if fit.outcome == "finished" and len(fold.test_idx):
        seen = np.bincount(y_all[train_idx], minlength=len(labels)) > 0
        if not seen.all() and plan.main:
            result.notes.append(
                f"{fold.name}: no training images of "
                f"{', '.join(n for n, s in zip(labels, seen, strict=True) if not s)}; "
                "its test images of that class count as errors, never as guesses"
            )
        test_res = _evaluate_encoded(trainer, plan.enc.subset(fold.test_idx), labels, seen)
        if plan.main:
            fold_dir.mkdir(parents=True, exist_ok=True)
            write_confusion_csv(test_res.confusion, labels, fold_dir / "confusion.csv")
            write_confusion_png(
                test_res.confusion,
                labels,
                fold_dir / "confusion.png",
                f"{a.arch} {fold.name}: {test_res.accuracy:.2%}",
            )
    fr = FoldResult(
        fold.name,
        fit,
        test_res,
        len(train_idx),
        len(fold.val_idx),
        len(fold.test_idx),
        time.perf_counter() - tf,
        str(fold_dir),
    )
    return fr, model


def _own_checkpoint(fold_dir: Path, ctx) -> str | None:
    """``fold_dir/last.pt`` when this run (same run id) wrote it: rank 0 looks, every rank follows."""
    from ferapp.train.checkpoint import run_id_of

    last = fold_dir / "last.pt"
    mine = ctx.is_main and last.is_file() and run_id_of(last) == distributed.run_id()
    return distributed.main_decides(str(last) if mine else "", ctx) or None


def _load_init_source(ref: str):
    from ferapp.zoo.io import load_checkpoint
    from ferapp.zoo.store import resolve_model

    p = Path(ref)
    if p.is_file():
        src, src_cfg, _ = load_checkpoint(p)
        return src, src_cfg
    loaded = resolve_model(ref)
    return loaded.model, loaded.cfg


def init_source_arch(ref: str) -> str:
    """Architecture name of a warm-start source (model folder, name or checkpoint); raises if unloadable."""
    return _load_init_source(ref)[1].name


def _init_weights(model: torch.nn.Module, ref: str) -> None:
    """Warm start: copy the weights of a trained model of the same architecture into ``model``."""
    src, src_cfg = _load_init_source(ref)
    if src_cfg.name != model.cfg.name:
        raise ValueError(f"init_from {ref!r} is a {src_cfg.name} model; this run trains {model.cfg.name}")
    sd = {k: v.float() if v.is_floating_point() else v for k, v in src.state_dict().items()}
    model.load_state_dict(sd, strict=True)


@torch.no_grad()
def _evaluate_encoded(
    trainer: Trainer, test: EncodedSet, labels, seen: np.ndarray | None = None
) -> EvalResult:
    """Test metrics; ``seen`` (per class: had training images in this fold) masks the outputs of
    classes the fold never trained, so they are never predicted by chance."""
    out = trainer.predict(test.x).cpu()
    if seen is not None and not np.all(seen):
        out[:, torch.from_numpy(~np.asarray(seen, bool))] = -torch.inf
    pred = out.argmax(1).numpy()
    return metrics_from_confusion(confusion_matrix(test.y.numpy(), pred, len(labels)), labels)


def _write_report(
    result: RunResult,
    out: Path,
    ds,
    proto,
    cfg,
    tcfg: TrainConfig,
    device,
    folds,
    finished: bool,
    params: int | None = None,
):
    from ferapp.zoo.registry import get_recipe

    tested = [f.test for f in folds if f.test is not None]
    agg = aggregate(tested) if tested else None
    report = {
        "ferapp_report": 1,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "outcome": result.outcome if not finished else "finished",
        "message": result.message,
        "arch": result.arch,
        "paper": cfg.paper,
        "citation": cfg.citation,
        "model_kwargs": cfg.kwargs,
        "labels": list(cfg.labels),
        "protocol": {
            "name": proto.name,
            "description": proto.describe(),
            "subject_independent": proto.subject_independent,
        },
        "dataset": {
            "path": ds.report.path,
            "format": ds.report.format,
            "fingerprint": ds.fingerprint,
            "n": len(ds),
            "num_subjects": ds.report.num_subjects,
            "warnings": list(ds.report.warnings),
            "class_counts": {
                n: int((np.asarray(ds.labels) == i).sum()) for i, n in enumerate(ds.label_names)
            },
        },
        "folds": [f.to_dict() for f in folds],
        "summary": agg,
        "wall_time_s": sum(f.wall_time_s for f in folds),
        "hardware": hardware_string(device),
        "device": str(device),
        "processes": distributed.context().world_size,
        "torch": torch.__version__,
        "recipe": tcfg.to_dict(),
        "paper_recipe": get_recipe(cfg.name).to_dict(),
        "reported_by_paper": cfg.reported,
        "params": params,
        "notes": list(result.notes),
    }
    if tested:
        from ferapp.train.baselines import run_baselines

        base = run_baselines([t.confusion for t in tested], tested[0].labels)
        report["baselines"] = base.to_dict() if base is not None else None
    out.mkdir(parents=True, exist_ok=True)
    if agg and agg.get("pooled"):
        pooled = agg["pooled"]
        cm = np.array(pooled["confusion"])
        write_confusion_csv(cm, cfg.labels, out / "confusion.csv")
        write_confusion_png(
            cm,
            cfg.labels,
            out / "confusion.png",
            f"{result.arch} {proto.name}: {agg['mean_accuracy']:.2%} +- {agg['std_accuracy']:.2%}",
        )
    result.report_path = str(write_json(report, out / "report.json"))
    return report


def _save_model(model_dir: Path, model, report: dict) -> Path:
    from ferapp.train.card import model_card
    from ferapp.zoo.io import save_model_dir

    model.cpu().eval()
    meta = {
        k: report[k]
        for k in (
            "arch",
            "protocol",
            "dataset",
            "summary",
            "wall_time_s",
            "hardware",
            "torch",
            "recipe",
            "created",
        )
    }
    meta["trained_fold"] = report["folds"][-1]["name"] if report["folds"] else None
    meta["params"] = report["params"]
    meta["baselines"] = report.get("baselines")
    summ = report.get("summary") or {}
    meta["metrics"] = {
        "accuracy": summ.get("mean_accuracy"),
        "accuracy_std": summ.get("std_accuracy"),
        "macro_f1": summ.get("mean_macro_f1"),
        "protocol": report["protocol"]["name"],
        "folds": summ.get("folds"),
    }
    tmp = model_dir.with_name(f".{model_dir.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)  # this process's own leftover
    save_model_dir(tmp, model, model.cfg, meta)
    (tmp / "README.md").write_text(model_card(model.cfg, report))
    write_json(report, Path(report_path_of(tmp)))
    if model_dir.is_dir():  # an earlier run's model folder: remove ferapp's files only, then the folder
        for p in model_dir.iterdir():
            if p.name in MODEL_FILES or (p.name.startswith(".") and p.name.endswith(".tmp")):
                p.unlink()
        model_dir.rmdir()  # OSError if it holds anything else (check_out_dir refused that up front)
    os.replace(tmp, model_dir)
    return model_dir


def report_path_of(model_dir: Path) -> Path:
    return Path(model_dir) / "report.json"


def check_save_name(name: str, overwrite: bool = False) -> Path:
    """The user-store folder a model saved as ``name`` goes to; ValueError / FileExistsError now
    (before training) for a name that cannot be used."""
    from ferapp.zoo.names import model_name_error
    from ferapp.zoo.store import user_models_dir

    err = model_name_error(name or "") if name == (name or "").strip() else "no blanks around the name."
    if err:
        raise ValueError(f"invalid model name {name!r}: {err}")
    dst = Path(user_models_dir()) / name
    if dst.exists() and not overwrite:
        raise FileExistsError(f"a trained model named {name!r} already exists at {dst}")
    return dst


def save_to_user_models(run_result: RunResult, name: str, overwrite: bool = False) -> Path:
    """Copy the run's model folder into the user's model store as ``name``."""
    if not run_result.best_model_dir:
        raise ValueError("this run produced no model folder (did it finish?)")
    dst = check_save_name(name, overwrite)
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(run_result.best_model_dir, dst)
    return dst

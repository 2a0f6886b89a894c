"""Re-create a shipped model (or a reproduction run) from a recipe file with one command.

    python training/run_recipe.py training/recipes/resnet20_fer2013.json [--resume] [--epochs N]

A recipe is a small JSON file: architecture, dataset (relative to the repo), protocol,
constructor arguments and training overrides of the paper's typed defaults (TrainConfig),
and notes on where we depart from the paper; optional "inference" options (e.g. {"flip_tta": true})
are written into the shipped config.json before evaluation. The run goes to runs/<recipe name>/; with
"ship": true the trained model is copied to models/<name>/ and then finalised by
``training/finalize_model.py`` (PrivateTest evaluation with the same code as `ferapp eval`,
measured latency, model card). After an interruption, ``--resume`` continues from the last
checkpoint of the (single) fold.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for `from training.<script> import` (ferapp itself is installed)


def load_recipe(path: str | Path) -> dict:
    """The recipe file, checked against the training-option schema (unknown keys are errors)."""
    from ferapp.train.options import check_recipe_file

    r = json.loads(Path(path).read_text(encoding="utf-8"))
    try:
        r = check_recipe_file(r)
    except ValueError as e:
        raise SystemExit(f"error: {path}: {e}") from None
    r.setdefault("name", Path(path).stem)
    return r


def data_path(recipe: dict) -> str:
    p = Path(recipe["data"])
    return str(p if p.is_absolute() else (REPO / p).resolve())


def epoch_printer(name: str):
    """A callback printing one line per epoch (readable in a log file, unlike a progress bar)."""
    from ferapp.train.callbacks import Callback

    class EpochPrinter(Callback):
        def __init__(self):
            self.t0 = time.time()

        def on_epoch_end(self, epoch, metrics):
            el = time.time() - self.t0
            parts = " ".join(
                f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()
            )
            print(f"[{name}] epoch {epoch} {parts} elapsed={el / 60:.1f}min", flush=True)

        def on_fold_end(self, fold, result):
            print(f"[{name}] fold {fold} test accuracy {getattr(result, 'accuracy', None)}", flush=True)

    return EpochPrinter()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recipe")
    ap.add_argument("--resume", action="store_true", help="continue from runs/<name>/fold1/last.pt")
    ap.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=None, help="run folder (default runs/<name>)")
    ap.add_argument("--no-ship", action="store_true", help="do not copy into models/")
    args = ap.parse_args(argv)

    import torch

    from ferapp.train.run import run_training

    r = load_recipe(args.recipe)
    overrides = dict(r.get("overrides", {}))
    if args.epochs:
        overrides["epochs"] = args.epochs
    if args.threads:
        overrides["num_threads"] = args.threads
    torch.set_num_threads(overrides.get("num_threads") or 2)
    out = Path(args.out) if args.out else REPO / "runs" / r["name"]
    for key in ("init_from", "distill_from"):  # recipes name repo-relative model folders
        ref = overrides.get(key)
        if ref and not Path(ref).is_absolute() and (REPO / ref).exists():
            overrides[key] = str(REPO / ref)
    if args.resume:
        ck = out / "fold1" / "last.pt"
        if not ck.exists():
            print(f"error: nothing to resume at {ck}", file=sys.stderr)
            return 2
        overrides["resume"] = str(ck)
    print(
        f"recipe {r['name']}: {r['arch']} on {r['data']} ({r.get('protocol', 'official')}), overrides {overrides}",
        flush=True,
    )
    res = run_training(
        r["arch"],
        data_path(r),
        r.get("protocol", "official"),
        overrides=overrides,
        out_dir=out,
        callbacks=[epoch_printer(r["name"])],
        model_kwargs=r.get("model_kwargs", {}),
        folds=r.get("folds"),
        max_train=r.get("max_train"),
    )
    print(
        f"outcome {res.outcome} {res.message or ''}; mean accuracy {res.mean_accuracy} ± {res.std_accuracy}; "
        f"report {res.report_path}",
        flush=True,
    )
    if res.outcome != "finished":
        return 1
    reports = REPO / "training" / "reports"
    reports.mkdir(exist_ok=True)
    rep = json.loads(Path(res.report_path).read_text())
    rep["recipe_name"] = r["name"]
    rep["recipe_notes"] = r.get("notes", "")
    (reports / f"{r['name']}.json").write_text(json.dumps(rep, indent=1, default=str) + "\n")
    if r.get("ship") and not args.no_ship:
        dst = REPO / "models" / r["name"]
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(res.best_model_dir, dst)
        from training.finalize_model import apply_inference_options, finalize

        apply_inference_options(dst, r.get("inference"))
        finalize(dst, r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

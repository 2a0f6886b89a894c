"""Finalise a shipped model folder: evaluate the SHIPPED weights (fp16 on disk, as users load
them) on FER2013 PublicTest/PrivateTest with the same code as `ferapp eval`, measure CPU
latency per face, and write the numbers into config.json (meta.metrics) and the model card.

    python training/finalize_model.py models/resnet20_fer2013 [--recipe training/recipes/x.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FER2013 = REPO.parent / "shared" / "datasets" / "fer2013" / "fer2013.csv.gz"


def evaluate_split(model_dir: Path, data: Path, split: str) -> dict:
    """Exactly what `ferapp eval MODEL --data DATA --split SPLIT` computes."""
    import numpy as np

    from ferapp.data import load_dataset
    from ferapp.train.evaluate import evaluate
    from ferapp.zoo.store import resolve_model

    loaded = resolve_model(str(model_dir))
    ds = load_dataset(str(data))
    keep = np.flatnonzero(np.char.lower(np.asarray(ds.splits, dtype=str)) == split.lower())
    res = evaluate(loaded.model, loaded.cfg, ds.subset(keep), device="cpu")
    return res.to_dict()


def measure_latency_ms(model_dir: Path, runs: int = 60) -> float:
    """Median CPU ms per face at batch 1 through the live engine (preprocessing + model), 1 thread."""
    import numpy as np
    import torch

    from ferapp.inference.engine import ExpressionEngine

    torch.set_num_threads(1)
    eng = ExpressionEngine(str(model_dir), device="cpu", threads=1)
    crop = (np.random.default_rng(0).random((48, 48)) * 255).astype(np.uint8)
    for _ in range(5):
        eng.classify([crop])
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        eng.classify([crop])
        ts.append((time.perf_counter() - t) * 1000)
    return statistics.median(ts)


INFERENCE_OPTIONS = ("flip_tta",)


def apply_inference_options(model_dir: Path, options: dict | None) -> None:
    """Write a recipe's inference options (ModelCfg fields such as ``flip_tta``) into config.json."""
    if not options:
        return
    bad = sorted(set(options) - set(INFERENCE_OPTIONS))
    if bad:
        raise ValueError(f"unknown inference option(s) {bad}; known: {list(INFERENCE_OPTIONS)}")
    cfg_path = Path(model_dir) / "config.json"
    config = json.loads(cfg_path.read_text())
    config.update(options)
    cfg_path.write_text(json.dumps(config, indent=2, default=str) + "\n")


def finalize(model_dir: Path, recipe: dict | None = None, data: Path = FER2013) -> dict:
    from ferapp.inference.device import device_description

    model_dir = Path(model_dir)
    cfg_path = model_dir / "config.json"
    config = json.loads(cfg_path.read_text())
    meta = config.setdefault("meta", {})
    priv = evaluate_split(model_dir, data, "PrivateTest")
    pub = evaluate_split(model_dir, data, "PublicTest")
    lat = measure_latency_ms(model_dir)
    meta["metrics"] = {
        "privatetest_acc": priv["accuracy"], "publictest_acc": pub["accuracy"],
        "privatetest_macro_f1": priv["macro_f1"], "privatetest_per_class": priv["per_class_accuracy"],
        "privatetest_confusion": priv["confusion"],
    }
    meta["latency_ms"] = round(lat, 3)
    meta["latency_hardware"] = device_description("cpu") + ", 1 torch thread, batch 1, median"
    meta["protocol_name"] = "FER2013 official: train on Training, select on PublicTest, report PrivateTest"
    if recipe:
        meta["recipe_file"] = recipe.get("command") or f"training/recipes/{recipe['name']}.json"
        meta["notes"] = recipe.get("notes", "")
    cfg_path.write_text(json.dumps(config, indent=2, default=str) + "\n")
    card = model_dir / "README.md"
    text = card.read_text() if card.exists() else f"# {model_dir.name}\n"
    marker = "\n## Shipped weights: FER2013 evaluation\n"
    text = text.split(marker)[0]
    labels = list(priv["per_class_accuracy"])
    lines = [marker, f"Evaluated by `training/finalize_model.py` on the fp16 weights in this folder, with the "
             f"same code as `ferapp eval models/{model_dir.name} --data ../shared/datasets/fer2013/fer2013.csv.gz "
             f"--split PrivateTest`.", "",
             "| split | images | accuracy | macro F1 |", "|---|---|---|---|",
             f"| PublicTest (model selection) | {pub['n']} | {100 * pub['accuracy']:.2f}% | {100 * pub['macro_f1']:.2f}% |",
             f"| **PrivateTest (reported)** | {priv['n']} | **{100 * priv['accuracy']:.2f}%** | "
             f"{100 * priv['macro_f1']:.2f}% |", "",
             "Per-class PrivateTest accuracy: " + ", ".join(
                 f"{k} {100 * v:.1f}%" if v is not None else f"{k} n/a" for k, v in priv["per_class_accuracy"].items()),
             "", "PrivateTest confusion (rows true, columns predicted):", "",
             "| true \\ pred | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for lab, row in zip(labels, priv["confusion"], strict=False):
        lines.append(f"| {lab} | " + " | ".join(str(int(v)) for v in row) + " |")
    if config.get("flip_tta"):
        lines += ["", "Inference averages the outputs for the face and its mirror image (`flip_tta` in "
                  "config.json), in the live engine and in evaluation alike; the training report's test "
                  "figure is without it."]
    lines += ["", f"CPU latency per face (engine: preprocessing + model): {lat:.2f} ms "
              f"({meta['latency_hardware']}).", ""]
    if recipe:
        cmd = recipe.get("command") or f"python training/run_recipe.py {meta['recipe_file']}"
        lines += [f"Re-create with one command: `{cmd}`"
                  + ("" if recipe.get("command") else " (add `--resume` after an interruption)") + ".", "",
                  f"Notes: {recipe.get('notes', '')}", ""]
    card.write_text(text + "\n".join(lines))
    print(f"{model_dir.name}: PrivateTest {100 * priv['accuracy']:.2f}%  PublicTest {100 * pub['accuracy']:.2f}%  "
          f"latency {lat:.2f} ms/face", flush=True)
    return meta


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model_dir")
    ap.add_argument("--recipe", default=None)
    ap.add_argument("--data", default=str(FER2013))
    args = ap.parse_args(argv)
    recipe = None
    if args.recipe:
        from training.run_recipe import load_recipe

        recipe = load_recipe(args.recipe)
    finalize(Path(args.model_dir), recipe, Path(args.data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

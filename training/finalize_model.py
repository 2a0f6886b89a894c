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
sys.path.insert(0, str(REPO))  # for `from training.<script> import` (ferapp itself is installed)

FER2013 = REPO.parent / "shared" / "datasets" / "fer2013" / "fer2013.csv.gz"


def evaluate_split(
    model_dir: Path, data: Path, split: str, labels: str = "dataset", with_probs: bool = False
):
    """Exactly what `ferapp eval MODEL --data DATA --split SPLIT [--labels ferplus]` computes
    (the dict also holds the ECE; ``with_probs`` returns (dict, probs, y) as well)."""
    import numpy as np

    from ferapp.data import load_dataset
    from ferapp.train.calibration import ece
    from ferapp.train.evaluate import evaluate
    from ferapp.zoo.store import resolve_model

    loaded = resolve_model(str(model_dir))
    ds = load_dataset(str(data), ferplus="majority" if labels == "ferplus" else None)
    keep = np.flatnonzero(np.char.lower(np.asarray(ds.splits, dtype=str)) == split.lower())
    res = evaluate(loaded.model, loaded.cfg, ds.subset(keep), device="cpu")
    d = res.to_dict()
    d["ece"] = ece(res.probs, res.y)
    return (d, res.probs, res.y) if with_probs else d


def calibrate(model_dir: Path, data: Path) -> dict:
    """Fit the softmax temperature on PublicTest (never PrivateTest) and ship it in config.json
    when it lowers the PublicTest ECE by at least half a point; ECE before/after on both splits."""
    import numpy as np

    from ferapp.train.calibration import ece, fit_temperature

    cfg_path = Path(model_dir) / "config.json"
    config = json.loads(cfg_path.read_text())
    config["temperature"] = 1.0
    cfg_path.write_text(json.dumps(config, indent=2, default=str) + "\n")
    pub, p_pub, y_pub = evaluate_split(model_dir, data, "PublicTest", with_probs=True)
    priv, p_priv, y_priv = evaluate_split(model_dir, data, "PrivateTest", with_probs=True)
    t = fit_temperature(np.log(np.clip(p_pub, 1e-12, None)), y_pub)

    def scaled(p):
        z = np.log(np.clip(p, 1e-12, None)) / t
        z = np.exp(z - z.max(1, keepdims=True))
        return z / z.sum(1, keepdims=True)

    out = {
        "temperature_fitted": round(t, 4),
        "publictest_ece_before": pub["ece"],
        "publictest_ece_after": ece(scaled(p_pub), y_pub),
        "privatetest_ece_before": priv["ece"],
        "privatetest_ece_after": ece(scaled(p_priv), y_priv),
    }
    out["shipped"] = bool(out["publictest_ece_before"] - out["publictest_ece_after"] >= 0.005)
    config["temperature"] = round(t, 4) if out["shipped"] else 1.0
    cfg_path.write_text(json.dumps(config, indent=2, default=str) + "\n")
    return out


def packed_comparison(model_dir: Path, data: Path) -> dict | None:
    """P5 folders: the 1-bit path the app runs vs the float network on PrivateTest (agreement,
    accuracy, file sizes, ms per face)."""
    import numpy as np

    from ferapp.data import load_dataset
    from ferapp.train.evaluate import predict_probs
    from ferapp.zoo.store import resolve_model

    loaded = resolve_model(str(model_dir))
    if loaded.packed_path is None:
        return None
    ds = load_dataset(str(data))
    keep = np.flatnonzero(np.asarray(ds.splits, dtype=str) == "PrivateTest")
    y = np.asarray(ds.labels)[keep]
    pf = predict_probs(loaded.model, loaded.cfg, ds.images[keep])
    pk = loaded.packed_model()
    pp = predict_probs(pk.model, pk.cfg, ds.images[keep])
    fp32 = sum(p.numel() * 4 for p in loaded.model.parameters())
    return {
        "agreement": float((pf.argmax(1) == pp.argmax(1)).mean()),
        "float_acc": float((pf.argmax(1) == y).mean()),
        "packed_acc": float((pp.argmax(1) == y).mean()),
        "packed_file_bytes": loaded.packed_path.stat().st_size,
        "fp32_bytes": fp32,
        "packed_ms": round(measure_latency_ms(model_dir, packed=True), 3),
        "float_ms": round(measure_latency_ms(model_dir, packed=False), 3),
    }


def measure_latency_ms(model_dir: Path, runs: int = 60, packed: bool = True) -> float:
    """Median CPU ms per face at batch 1 through the live engine (preprocessing + model), 1 thread
    (P5 models: the 1-bit path the app runs, unless ``packed`` is False)."""
    import numpy as np
    import torch

    from ferapp.inference.engine import ExpressionEngine

    torch.set_num_threads(1)
    eng = ExpressionEngine(str(model_dir), device="cpu", threads=1, packed=packed)
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
    cal = calibrate(model_dir, data)
    config = json.loads(cfg_path.read_text())  # calibrate() wrote the temperature
    meta = config.setdefault("meta", {})
    priv = evaluate_split(model_dir, data, "PrivateTest")
    pub = evaluate_split(model_dir, data, "PublicTest")
    fp_priv = evaluate_split(model_dir, data, "PrivateTest", labels="ferplus")
    packed = packed_comparison(model_dir, data)
    lat = measure_latency_ms(model_dir)
    meta["metrics"] = {
        "privatetest_acc": priv["accuracy"],
        "publictest_acc": pub["accuracy"],
        "privatetest_macro_f1": priv["macro_f1"],
        "privatetest_per_class": priv["per_class_accuracy"],
        "privatetest_confusion": priv["confusion"],
        "privatetest_ece": priv["ece"],
        "ferplus_privatetest_acc": fp_priv["accuracy"],
        "ferplus_privatetest_n": fp_priv["n"],
        "ferplus_privatetest_macro_f1": fp_priv["macro_f1"],
        "calibration": cal,
    }
    if packed:
        meta["metrics"]["packed"] = packed
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
    lines = [
        marker,
        f"Evaluated by `training/finalize_model.py` on the fp16 weights in this folder, with the "
        f"same code as `ferapp eval models/{model_dir.name} --data ../shared/datasets/fer2013/fer2013.csv.gz "
        f"--split PrivateTest`.",
        "",
        "| split | images | accuracy | macro F1 |",
        "|---|---|---|---|",
        f"| PublicTest (model selection) | {pub['n']} | {100 * pub['accuracy']:.2f}% | {100 * pub['macro_f1']:.2f}% |",
        f"| **PrivateTest (reported)** | {priv['n']} | **{100 * priv['accuracy']:.2f}%** | "
        f"{100 * priv['macro_f1']:.2f}% |",
        "",
        "Per-class PrivateTest accuracy: "
        + ", ".join(
            f"{k} {100 * v:.1f}%" if v is not None else f"{k} n/a"
            for k, v in priv["per_class_accuracy"].items()
        ),
        "",
        "PrivateTest confusion (rows true, columns predicted):",
        "",
        "| true \\ pred | " + " | ".join(labels) + " |",
        "|---" * (len(labels) + 1) + "|",
    ]
    for lab, row in zip(labels, priv["confusion"], strict=False):
        lines.append(f"| {lab} | " + " | ".join(str(int(v)) for v in row) + " |")
    lines += [
        "",
        "**Calibration** (expected calibration error, 15 bins): temperature "
        f"{cal['temperature_fitted']:.3f} fitted on PublicTest "
        f"({'shipped in config.json' if cal['shipped'] else 'not shipped: it did not lower the PublicTest ECE by 0.5 points'}). "
        f"PrivateTest ECE {100 * cal['privatetest_ece_before']:.2f}% before, "
        f"{100 * cal['privatetest_ece_after']:.2f}% after (PublicTest {100 * cal['publictest_ece_before']:.2f}% -> "
        f"{100 * cal['publictest_ece_after']:.2f}%).",
        "",
        f"**FER+ labels** (`ferapp eval models/{model_dir.name} --data ../shared/datasets/fer2013/fer2013.csv.gz "
        f"--split PrivateTest --labels ferplus`): {100 * fp_priv['accuracy']:.2f}% on the {fp_priv['n']} PrivateTest "
        "images whose 10 FER+ votes have a majority among our seven classes (no-majority, unknown, "
        f"not-a-face and contempt-majority images left out); macro F1 {100 * fp_priv['macro_f1']:.2f}%.",
    ]
    if packed:
        lines += [
            "",
            f"**1-bit path** (what the app runs for this model): packed weights "
            f"{packed['packed_file_bytes'] / 1e6:.2f} MB vs {packed['fp32_bytes'] / 1e6:.1f} MB float32 "
            f"({packed['fp32_bytes'] / packed['packed_file_bytes']:.1f}x smaller); "
            f"{packed['packed_ms']:.2f} ms/face packed vs {packed['float_ms']:.2f} ms float; "
            f"PrivateTest {100 * packed['packed_acc']:.2f}% packed vs {100 * packed['float_acc']:.2f}% float, "
            f"the two agree on {100 * packed['agreement']:.2f}% of the faces.",
        ]
    if config.get("flip_tta"):
        lines += [
            "",
            "Inference averages the outputs for the face and its mirror image (`flip_tta` in "
            "config.json), in the live engine and in evaluation alike; the training report's test "
            "figure is without it.",
        ]
    lines += [
        "",
        f"CPU latency per face (engine: preprocessing + model): {lat:.2f} ms ({meta['latency_hardware']}).",
        "",
    ]
    if recipe:
        cmd = recipe.get("command") or f"python training/run_recipe.py {meta['recipe_file']}"
        lines += [
            f"Re-create with one command: `{cmd}`"
            + ("" if recipe.get("command") else " (add `--resume` after an interruption)")
            + ".",
            "",
            f"Notes: {recipe.get('notes', '')}",
            "",
        ]
    card.write_text(text + "\n".join(lines))
    print(
        f"{model_dir.name}: PrivateTest {100 * priv['accuracy']:.2f}%  PublicTest {100 * pub['accuracy']:.2f}%  "
        f"latency {lat:.2f} ms/face",
        flush=True,
    )
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

"""Calibrate a shipped model's int8 CPU network and measure it against the float one.

    python training/quantize_model.py models/resnet20_kd_fer2013 [--n 4096] [--eval] [--live]
        [--data ../shared/datasets/fer2013/fer2013.csv.gz] [--crops-cache DIR]

Calibration: ``--n`` FER2013 *Training* faces (stratified by class, seed 0) through the model's
own preprocessing and test-time views (``ferapp.zoo.quantize.calibrate``); writes
``int8.json`` into the model folder (``ferapp.zoo.quantize`` says what it holds).
``--eval``: PublicTest accuracy of the float and the int8 network on the faces directly (what
``ferapp eval --precision float|int8`` reports). ``--live``: the same through the live path
(detect, landmarks, align, classify on every PublicTest face upscaled 4x into a 320x320 frame;
``training/measure_framing.live_path_crops``), both networks on the same crops. The figures go
into ``int8.json`` under ``measured``; the rule for shipping it (issue 28.3): within 0.2 points
of the float network on PublicTest both ways. PrivateTest is never used.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FER2013 = REPO.parent / "shared" / "datasets" / "fer2013" / "fer2013.csv.gz"


def stratified(labels: np.ndarray, rows: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` of ``rows`` with each class in its share (seeded), sorted."""
    rng = np.random.default_rng(seed)
    out = []
    for c in np.unique(labels[rows]):
        pool = rows[labels[rows] == c]
        k = max(1, round(n * len(pool) / len(rows)))
        out.append(rng.choice(pool, size=min(k, len(pool)), replace=False))
    return np.sort(np.concatenate(out))


def accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    return float((probs.argmax(1) == y).mean()) if len(y) else float("nan")


def live_crops(ds, rows: np.ndarray, size, cache_dir: str | None = None) -> list:
    """The live path's crop of each of ``rows`` (None where no face was found): detect,
    landmarks, align on every face upscaled 4x into a 320x320 frame
    (``training/measure_framing.live_path_crops``); kept in ``cache_dir`` when given (they do
    not depend on the model, only on the dataset and the crop size)."""
    from training.measure_framing import live_path_crops

    cache = Path(cache_dir) / f"live_crops_{ds.fingerprint}.npz" if cache_dir else None
    if cache is not None and cache.exists():
        z = np.load(cache)
        found, stack = z["found"], z["crops"]
        crops = [None] * len(rows)
        for k, c in zip(np.flatnonzero(found), stack, strict=True):
            crops[k] = c
        return crops
    crops = live_path_crops(ds.images[rows], size=size)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        found = np.array([c is not None for c in crops])
        np.savez_compressed(cache, found=found, crops=np.stack([c for c in crops if c is not None]))
    return crops


def compare(probs: dict, y: np.ndarray, faces: int, found: int | None = None) -> dict:
    """Float vs int8 on the same faces: accuracies, the share with the same label, the largest
    probability difference."""
    r = {
        "faces": int(faces),
        "float_acc": accuracy(probs["float"], y),
        "int8_acc": accuracy(probs["int8"], y),
        "agreement": float((probs["float"].argmax(1) == probs["int8"].argmax(1)).mean()),
        "max_abs_prob_diff": float(np.abs(probs["float"] - probs["int8"]).max()),
    }
    if found is not None:
        r["found"] = int(found)
    return r


def measure(folder: Path, ds, args, runtime: str) -> dict:
    """The folder's float network against its int8 network in ``runtime`` (``torch``: int8.json,
    ``onnxruntime``: int8.onnx), as the live engine runs them: PublicTest directly (``args.eval``),
    through the live path (``args.live``), PrivateTest directly (``args.private``, reported only)."""
    from ferapp.inference.engine import ExpressionEngine

    splits, labels = np.asarray(ds.splits, dtype=str), np.asarray(ds.labels)
    pub = np.flatnonzero(splits == "PublicTest")
    y = labels[pub]
    engines = {
        p: ExpressionEngine(str(folder), device="cpu", threads=1, precision=p, runtime=runtime)
        for p in ("float", "int8")
    }
    assert (engines["int8"].precision, engines["int8"].runtime) == ("int8", runtime), "no int8 network"
    measured = {}
    if args.eval:
        probs = {p: e.classify(list(ds.images[pub])) for p, e in engines.items()}
        measured["publictest_direct"] = compare(probs, y, len(pub))
    if getattr(args, "private", False):
        priv = np.flatnonzero(splits == "PrivateTest")
        probs = {p: e.classify(list(ds.images[priv])) for p, e in engines.items()}
        measured["privatetest_direct"] = compare(probs, labels[priv], len(priv))
    if args.live:
        crops = live_crops(ds, pub, engines["float"].cfg.crop_size, args.crops_cache)
        found = np.flatnonzero([c is not None for c in crops])
        probs = {p: e.classify([crops[k] for k in found]) for p, e in engines.items()}
        measured["publictest_live"] = compare(probs, y[found], len(pub), len(found))
    for key, r in measured.items():
        print(key, json.dumps(r, indent=1))
    return measured


CARD_BEGIN, CARD_END = "<!-- BEGIN:int8 -->", "<!-- END:int8 -->"


def card_section(record: dict) -> str:
    """The model card's int8 section, from ``int8.json``."""
    m = record.get("measured") or {}
    cal = record.get("calibration", {})
    lines = [
        CARD_BEGIN,
        "## int8 on the CPU with torch",
        "",
        f"`int8.json` ({record['scheme']}) makes the live engine and `ferapp eval` run this model as int8 on the "
        "CPU through torch where the folder's `int8.onnx` cannot run (no onnxruntime, or `FERAPP_RUNTIME=torch`) "
        f"(`--precision float` or `FERAPP_INT8=0` for the float network). Activation scales calibrated on "
        f"{cal.get('faces')} FER2013 Training faces ({cal.get('selection')})"
        + (", with empirical bias correction" if record.get("bias_correction") else "")
        + f": `{cal.get('command')}`.",
        "",
        "| faces | float | int8 | difference | same label |",
        "|---|---|---|---|---|",
    ]
    return "\n".join(lines + measured_rows(m) + ["", CARD_END])


MEASURED = {
    "publictest_direct": "PublicTest, directly",
    "publictest_live": "PublicTest through the live path",
    "privatetest_direct": "PrivateTest, directly (reported, not used to choose)",
}


def measured_rows(measured: dict) -> list[str]:
    """A card table's rows (faces | float | int8 | difference | same label) of a record's
    ``measured`` figures (``_compare``'s dicts), in ``MEASURED``'s order."""
    lines = []
    for key, title in MEASURED.items():
        r = measured.get(key)
        if r:
            n = r.get("found", r["faces"])
            lines.append(
                f"| {title} ({n} faces) | {100 * r['float_acc']:.2f}% | {100 * r['int8_acc']:.2f}% | "
                f"{100 * (r['int8_acc'] - r['float_acc']):+.2f} | {100 * r['agreement']:.2f}% |"
            )
    return lines


def write_card(folder: Path, body: str, begin: str = CARD_BEGIN, end: str = CARD_END) -> None:
    """Put ``body`` (a section from ``begin`` to ``end``) into the folder's model card, replacing
    the section that is there."""
    card = folder / "README.md"
    text = card.read_text() if card.exists() else f"# {folder.name}\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + body + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    card.write_text(text)


def add_common_args(ap: argparse.ArgumentParser) -> None:
    """The options this script and ``training/export_onnx.py`` share."""
    ap.add_argument("model", help="model folder (models/<name>)")
    ap.add_argument("--data", default=str(FER2013))
    ap.add_argument("--n", type=int, default=4096, help="calibration faces from FER2013 Training")
    ap.add_argument("--eval", action="store_true", help="PublicTest accuracy, float vs int8, faces directly")
    ap.add_argument(
        "--live", action="store_true", help="PublicTest accuracy, float vs int8, through the live path"
    )
    ap.add_argument(
        "--crops-cache", help="folder to keep the live-path crops in (they do not depend on the model)"
    )


def calibration_set(args):
    """(folder, loaded model, dataset, calibration rows): ``args.n`` FER2013 Training faces,
    stratified (seed 0); torch on one thread."""
    import torch

    from ferapp.data import load_dataset
    from ferapp.zoo.store import resolve_model

    torch.set_num_threads(1)
    folder = Path(args.model).resolve()
    loaded = resolve_model(str(folder))
    ds = load_dataset(args.data)
    splits, labels = np.asarray(ds.splits, dtype=str), np.asarray(ds.labels)
    return folder, loaded, ds, stratified(labels, np.flatnonzero(splits == "Training"), args.n)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(ap)
    ap.add_argument("--measure-only", action="store_true", help="keep the folder's int8.json; only measure")
    ap.add_argument(
        "--keep-activations",
        action="store_true",
        help="reuse the folder's activation scales (skip their calibration)",
    )
    ap.add_argument("--no-bias-correction", action="store_true", help="no empirical bias correction")
    ap.add_argument(
        "--private",
        action="store_true",
        help="also PrivateTest, faces directly (reported only; nothing is chosen on it)",
    )
    args = ap.parse_args(argv)

    from ferapp.zoo import quantize

    t0 = time.time()
    folder, loaded, ds, cal = calibration_set(args)
    kept = quantize.read_int8(folder / quantize.FILE) if (args.measure_only or args.keep_activations) else {}
    acts = kept["activations"] if kept else quantize.calibrate(loaded.model, loaded.cfg, ds.images[cal])
    if args.measure_only:
        corr = kept.get("bias_correction") or {}
    elif args.no_bias_correction:
        corr = {}
    else:
        corr = quantize.bias_corrections(loaded.model, loaded.cfg, ds.images[cal], acts)
    info = {
        "calibration": {
            "data": "FER2013 Training",
            "faces": int(len(cal)),
            "selection": "stratified, seed 0",
            "dataset_fingerprint": ds.fingerprint,
            "bias_correction": bool(corr),
            "command": f"python training/quantize_model.py models/{folder.name} --n {args.n}"
            + (" --no-bias-correction" if not corr else ""),
        }
    }
    old = {}
    if (folder / quantize.FILE).exists():
        try:
            old = quantize.read_int8(folder / quantize.FILE)
        except Exception:
            old = {}
    record = quantize.int8_record(loaded.model, loaded.cfg, acts, corr, **info)
    if old.get("activations") == acts and (old.get("bias_correction") or {}) == corr and "measured" in old:
        record["measured"] = old["measured"]
    path = quantize.write_int8(folder, record)
    print(
        f"{path}: {len(acts)} activations calibrated on {len(cal)} Training faces ({time.time() - t0:.0f} s)"
    )

    if args.eval or args.live or args.private:
        record["measured"] = {**(record.get("measured") or {}), **measure(folder, ds, args, "torch")}
        quantize.write_int8(folder, record)
    write_card(folder, card_section(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

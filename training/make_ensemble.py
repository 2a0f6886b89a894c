"""Build the FER2013 ensemble model folder from the shipped single models.

    python training/make_ensemble.py [--candidates a,b,c]

Members and weights are chosen on PublicTest (never on PrivateTest): every combination of
integer weights 0-3 over the candidates is scored by the PublicTest accuracy of the weighted
average of their probabilities; the best wins, ties going to the cheaper ensemble (fewer
members, then smaller total weight). The folder models/ensemble_fer2013/ holds only a config
(member names and weights), so it costs no disk; finalize_model.py then evaluates it on
PrivateTest like any other model.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for `from training.<script> import` (ferapp itself is installed)

DEFAULT = [
    "resnet20_jit_fer2013",
    "resnet20_long_fer2013",
    "resnet20_seed2_fer2013",
    "resnet20_fer2013",
    "dsc_se_resnet_fer2013",
    "bdnn4_fer2013",
    "cc_lenet5_fer2013",
    "hsic_densenet_fer2013",
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--candidates", default=",".join(DEFAULT))
    args = ap.parse_args(argv)

    from ferapp.data import load_dataset
    from ferapp.zoo.predict import predict_probs
    from ferapp.zoo.store import resolve_model
    from training.finalize_model import FER2013, finalize

    ds = load_dataset(str(FER2013))
    pub = np.flatnonzero(np.asarray(ds.splits, dtype=str) == "PublicTest")
    y = np.asarray(ds.labels)[pub]
    probs = {}
    for name in args.candidates.split(","):
        d = REPO / "models" / name
        if not (d / "config.json").exists():
            print(f"skip {name}: not trained")
            continue
        m = resolve_model(str(d))
        probs[name] = predict_probs(m.model, m.cfg, ds.images[pub])
        print(f"{name}: PublicTest {100 * (probs[name].argmax(1) == y).mean():.2f}%")
    acc = {n: float((p.argmax(1) == y).mean()) for n, p in probs.items()}
    names = list(probs)
    stack = np.stack([probs[n] for n in names])  # (M, N, K)
    best_key, best_w = None, None
    for w in itertools.product(range(4), repeat=len(names)):
        if sum(w) == 0:
            continue
        a = float((np.tensordot(np.asarray(w, np.float64), stack, axes=1).argmax(1) == y).mean())
        key = (a, -sum(1 for v in w if v), -sum(w))
        if best_key is None or key > best_key:
            best_key, best_w = key, w
    best = best_key[0]
    chosen = [n for n, v in zip(names, best_w, strict=True) if v]
    weights = [float(v) for v in best_w if v]
    print(
        f"best single {max(acc.values()) * 100:.2f}%; chosen {dict(zip(chosen, weights, strict=True))}: "
        f"ensemble PublicTest {100 * best:.2f}%"
    )
    out = REPO / "models" / "ensemble_fer2013"
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "ensemble": [f"../{c}" for c in chosen],
        "weights": weights,
        "meta": {
            "name": "ensemble_fer2013",
            "trained": True,
            "description": "Weighted average of the softmax probabilities of "
            + ", ".join(f"{c} (x{w:g})" for c, w in zip(chosen, weights, strict=True)),
            "selection": "members and integer weights (0-3) chosen by exhaustive search on FER2013 PublicTest",
            "publictest_selection_acc": best,
        },
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "README.md").write_text(
        "# ensemble_fer2013\n\nWeighted average of the class probabilities of the shipped models "
        + ", ".join(f"`{c}` (weight {w:g})" for c, w in zip(chosen, weights, strict=True))
        + " (each with its own input size and preprocessing). Members and weights were chosen by "
        "exhaustive search on FER2013 PublicTest; the PrivateTest number below is measured, not selected on.\n"
    )
    finalize(
        out,
        {
            "name": "ensemble_fer2013",
            "command": "python training/make_ensemble.py",
            "notes": "members and weights chosen on PublicTest (exhaustive search over integer weights 0-3)",
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Build the FER2013 ensemble model folder from the shipped single models.

    python training/make_ensemble.py [--candidates a,b,c]

Members are chosen greedily on PublicTest (never on PrivateTest), Caruana-style ensemble
selection with replacement: start from the best single model, repeatedly add the model (a
member may be added again, which raises its weight) that most improves the averaged-probability
PublicTest accuracy, stop when nothing improves it. The folder models/ensemble_fer2013/ holds
only a config (member names and weights = how often each was picked), so it costs no disk; finalize_model.py then evaluates it on
PrivateTest like any other model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT = ["resnet20_long_fer2013", "resnet20_seed2_fer2013", "resnet20_fer2013", "dsc_se_resnet_fer2013", "bdnn4_fer2013", "cc_lenet5_fer2013",
           "hsic_densenet_fer2013"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--candidates", default=",".join(DEFAULT))
    args = ap.parse_args(argv)

    from ferapp.data import load_dataset
    from ferapp.train.evaluate import predict_probs
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
        probs[name] = predict_probs(m.model, m.cfg, ds.images[pub], device="cpu")
        print(f"{name}: PublicTest {100 * (probs[name].argmax(1) == y).mean():.2f}%")
    acc = {n: float((p.argmax(1) == y).mean()) for n, p in probs.items()}
    picks = [max(acc, key=acc.get)]
    best = acc[picks[0]]
    for _ in range(12):
        trials = {n: float((sum(probs[c] for c in [*picks, n]).argmax(1) == y).mean()) for n in probs}
        n, a = max(trials.items(), key=lambda kv: kv[1])
        if a <= best:
            break
        picks.append(n)
        best = a
        print(f"+ {n}: ensemble PublicTest {100 * a:.2f}%")
    chosen = list(dict.fromkeys(picks))
    weights = [float(picks.count(c)) for c in chosen]
    out = REPO / "models" / "ensemble_fer2013"
    out.mkdir(parents=True, exist_ok=True)
    config = {"ensemble": [f"../{c}" for c in chosen], "weights": weights,
              "meta": {"name": "ensemble_fer2013", "trained": True,
                       "description": "Weighted average of the softmax probabilities of "
                              + ", ".join(f"{c} (x{w:g})" for c, w in zip(chosen, weights, strict=True)),
                       "selection": "members chosen greedily on FER2013 PublicTest",
                       "publictest_selection_acc": best}}
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "README.md").write_text(
        "# ensemble_fer2013\n\nWeighted average of the class probabilities of the shipped models "
        + ", ".join(f"`{c}` (weight {w:g})" for c, w in zip(chosen, weights, strict=True))
        + " (each with its own input size and preprocessing). Members were chosen greedily on FER2013 "
        "PublicTest; the PrivateTest number below is measured, not selected on.\n")
    finalize(out, {"name": "ensemble_fer2013", "command": "python training/make_ensemble.py",
                   "notes": "members and weights chosen on PublicTest (greedy selection with replacement)"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Build the FER2013 ensemble model folder from the shipped single models.

    python training/make_ensemble.py [--candidates a,b,c]

Members are chosen greedily on PublicTest (never on PrivateTest): start from the best single
model, add the model that most improves the averaged-probability PublicTest accuracy, stop
when nothing improves it. The folder models/ensemble_fer2013/ holds only a config (member
names, equal weights), so it costs no disk; finalize_model.py then evaluates it on
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

DEFAULT = ["resnet20_fer2013", "dsc_se_resnet_fer2013", "bdnn4_fer2013", "cc_lenet5_fer2013",
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
    chosen = [max(acc, key=acc.get)]
    best = acc[chosen[0]]
    while True:
        trials = {n: float((sum(probs[c] for c in [*chosen, n]).argmax(1) == y).mean())
                  for n in probs if n not in chosen}
        if not trials:
            break
        n, a = max(trials.items(), key=lambda kv: kv[1])
        if a <= best:
            break
        chosen.append(n)
        best = a
        print(f"+ {n}: ensemble PublicTest {100 * a:.2f}%")
    out = REPO / "models" / "ensemble_fer2013"
    out.mkdir(parents=True, exist_ok=True)
    config = {"ensemble": [f"../{c}" for c in chosen], "weights": [1.0] * len(chosen),
              "meta": {"name": "ensemble_fer2013", "trained": True,
                       "description": "Average of the softmax probabilities of " + ", ".join(chosen),
                       "selection": "members chosen greedily on FER2013 PublicTest",
                       "publictest_selection_acc": best}}
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "README.md").write_text(
        "# ensemble_fer2013\n\nAverage of the class probabilities of the shipped models "
        + ", ".join(f"`{c}`" for c in chosen)
        + " (each with its own input size and preprocessing). Members were chosen greedily on FER2013 "
        "PublicTest; the PrivateTest number below is measured, not selected on.\n")
    finalize(out, {"name": "ensemble_fer2013", "command": "python training/make_ensemble.py",
                   "notes": "members chosen on PublicTest; equal weights"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

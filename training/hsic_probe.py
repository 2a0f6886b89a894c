"""Why P3's HSIC training collapsed, and what fixed it: linear probes of HSIC-trained features.

    python training/hsic_probe.py [--train 6000] [--epochs 4] [--out training/reports/hsic_probe.json]

For each variant of the layer-local objective (kernel, dependence measure, pooling, what one
unit is) the P3 net (stem stride 2, the shipped CPU size) is HSIC-trained with the library's own
``HSICStep`` on a stratified subset of FER2013 Training (seed 0), then frozen; a logistic
regression (the probe) is fitted on the pooled vector the head reads (global average of the
FPN output) and on each block's 3x3-pooled output, and scored on the first 2,000 PublicTest
images. Row "random init" is the same net untrained: a useful objective must beat it.
PrivateTest is not read. One torch thread; ~3 min per variant on this project's 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[1]

# (label, model kwargs, HSICStep kwargs); epochs 0 = untrained
VARIANTS = [
    ("random init (no training)", {}, None),
    ("paper: Gaussian sigma 5, 19 conv units, whole maps", {}, dict(sigma=5.0)),
    ("Gaussian median heuristic, 19 units, maps pooled 4x4", {}, dict(sigma=None, pool=4)),
    (
        "Gaussian median heuristic, 7 module units, channel means",
        {"hsic_units": "block"},
        dict(sigma=None, pool=1),
    ),
    (
        "nHSIC linear kernel, 19 conv units, channel means",
        {},
        dict(sigma=None, pool=1, measure="nhsic", kernel="linear"),
    ),
    (
        "nHSIC linear kernel, 7 module units, channel means (shipped)",
        {"hsic_units": "block"},
        dict(sigma=None, pool=1, measure="nhsic", kernel="linear"),
    ),
]


def stratified(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    idx = []
    for c in np.unique(labels):
        pool = np.flatnonzero(labels == c)
        k = max(1, int(round(n * len(pool) / len(labels))))
        idx.append(rng.choice(pool, min(k, len(pool)), replace=False))
    return np.concatenate(idx)


def probe(
    ftr: torch.Tensor, ytr: torch.Tensor, fte: torch.Tensor, yte: torch.Tensor, steps: int = 300
) -> float:
    """Full-batch logistic regression on standardised features; test accuracy."""
    mu, sd = ftr.mean(0), ftr.std(0) + 1e-6
    a, b = (ftr - mu) / sd, (fte - mu) / sd
    torch.manual_seed(0)
    lin = nn.Linear(a.shape[1], 7)
    opt = torch.optim.Adam(lin.parameters(), lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(lin(a), ytr).backward()
        opt.step()
    with torch.no_grad():
        return float((lin(b).argmax(1) == yte).float().mean())


def features(model, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The head's input (global pool of the FPN) and each dense block's output pooled 3x3."""
    model.eval()
    out: dict[str, list[torch.Tensor]] = {}
    with torch.no_grad():
        for i in range(0, len(x), 500):
            xb = x[i : i + 500]
            for b, cat in enumerate(model.forward_intermediates(xb)):
                out.setdefault(f"block{b + 1}", []).append(F.adaptive_avg_pool2d(cat, 3).flatten(1))
            out.setdefault("head input", []).append(model.forward_features(xb))
    return {k: torch.cat(v) for k, v in out.items()}


def run_variant(label, kwargs, step_kw, data, epochs: int, seed: int = 0) -> dict:
    from ferapp.train.algorithms import HSICStep
    from ferapp.zoo import create_model

    xtr, ytr, xte, yte = data
    torch.manual_seed(seed)
    model = create_model("hsic_densenet", stem_stride=2, **kwargs)
    t0 = time.time()
    steps = 0
    if step_kw is not None:
        step = HSICStep(model, lambda ps: torch.optim.Adam(ps, lr=0.005), beta=100.0, **step_kw)
        model.train()
        g = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            perm = torch.randperm(len(xtr), generator=g)
            for i in range(0, len(perm) - 127, 128):
                b = perm[i : i + 128]
                xb = xtr[b]
                flip = torch.rand(len(xb), generator=g) < 0.5
                xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
                step.step(xb, ytr[b], 7)
                steps += 1
    ftr, fte = features(model, xtr), features(model, xte)
    accs = {k: round(probe(ftr[k], ytr, fte[k], yte), 4) for k in ftr}
    return {
        "variant": label,
        "model_kwargs": kwargs,
        "hsic": step_kw,
        "steps": steps,
        "seconds": round(time.time() - t0, 1),
        "probe_accuracy": accs,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "datasets" / "fer2013" / "fer2013.csv.gz"))
    ap.add_argument("--train", type=int, default=6000)
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--only", type=int, nargs="*", help="variant indices (default: all)")
    ap.add_argument("--out", default=str(REPO / "training" / "reports" / "hsic_probe.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    from ferapp.data.fer2013 import parse_csv

    images, codes, usage, *_ = parse_csv(args.data)
    tr = np.flatnonzero(usage == "Training")
    tr = tr[stratified(codes[tr], args.train)]
    te = np.flatnonzero(usage == "PublicTest")[: args.test]

    from ferapp.preprocess import preprocess_face
    from ferapp.zoo import create_model

    cfg = create_model("hsic_densenet", stem_stride=2).cfg

    def prep(ix):  # the model's one preprocessing function, as in training and live inference
        return torch.from_numpy(np.stack([preprocess_face(images[i], cfg) for i in ix]))

    data = (prep(tr), torch.from_numpy(codes[tr]).long(), prep(te), torch.from_numpy(codes[te]).long())
    rows = []
    for i, (label, kwargs, step_kw) in enumerate(VARIANTS):
        if args.only and i not in args.only:
            continue
        row = run_variant(label, kwargs, step_kw, data, args.epochs)
        print(json.dumps(row), flush=True)
        rows.append(row)
    from ferapp.inference.device import cpu_name

    report = {
        "train_images": len(tr),
        "test_images": len(te),
        "test_split": "PublicTest",
        "epochs": args.epochs,
        "batch_size": 128,
        "optimizer": "adam lr 0.005",
        "beta": 100.0,
        "machine": cpu_name(),
        "torch_threads": 1,
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

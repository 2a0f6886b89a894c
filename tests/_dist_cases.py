"""Training cases run once by 2 gloo ranks (``tests/_dist_worker.py cases``) and once by a plain
process with the same global batch: the distributed tests compare the two. Tiny nets, tiny
generated data, a few steps; each case covers one strategy or batch path under DDP."""

from __future__ import annotations

import torch

from ferapp.train import TrainConfig, Trainer
from tests._train_helpers import TinyBNN, make_tiny, recipe_of, synthetic_faces, tiny_cfg


def _backprop():
    # BatchNorm (global statistics), augmentation of the global batch, batch 7 over 2 ranks (4 + 3 rows)
    # and a last batch of 3 (2 + 1): the loss weights must make every step the 1-process step
    m = make_tiny(batch_size=7, weight_decay=1e-3)
    m.drop.p = 0.0  # dropout masks are per rank (see ferapp.train.distributed)
    return m, synthetic_faces(8), synthetic_faces(3, seed=1), {"augment": ("mirror", "crop")}


def _center():
    m = make_tiny(loss="ce+center", batch_size=6)
    m.drop.p = 0.0
    return m, synthetic_faces(6), None, {"center_weight": 0.1, "center_lr": 0.5}


def _bnn_five_crop():
    # P5 path: latent weights clipped after the averaged step, all five crops per image (5 rows per sample)
    torch.manual_seed(0)
    m = TinyBNN(in_features=12 * 12)
    m.cfg, m.recipe = tiny_cfg(five_crop=12, algorithm="bnn", optimizer="adam", lr=0.01, batch_size=6)
    return m, synthetic_faces(4), None, {"five_crop": "all"}


def _mixup():
    # soft targets mixed over the global batch (mixup pairs rows of different ranks)
    m = make_tiny(batch_size=8)
    m.drop.p = 0.0
    return m, synthetic_faces(6), None, {"mixup": 0.4, "label_smoothing": 0.1}


def _tail():
    # batches of 11, 11 and 2 and a 6-image validation set: with 3 ranks the last batch leaves one
    # rank an empty slice (it still joins every collective, with weight 0)
    m = make_tiny(batch_size=11)
    m.drop.p = 0.0
    return m, synthetic_faces(8), synthetic_faces(2, seed=3), {}


CASES = {
    "backprop": _backprop,
    "center": _center,
    "bnn_five_crop": _bnn_five_crop,
    "mixup": _mixup,
    "tail": _tail,
}


def run_case(name: str, epochs: int = 2):
    model, train, val, over = CASES[name]()
    tc = TrainConfig.from_recipe(recipe_of(model), epochs=epochs, num_threads=1, device="cpu", **over)
    res = Trainer(model, model.cfg, tc).fit(train, val)
    assert res.outcome == "finished", res.message + res.traceback
    return res, model

"""Tiny synthetic datasets and models for the training tests (no real data, fast on 1 thread)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from ferapp.data.base import DatasetReport, FaceDataset
from ferapp.labels import LABELS
from ferapp.zoo.registry import ModelCfg, Recipe


def synthetic_faces(
    n_per_class: int = 8,
    classes: int = 3,
    size: int = 16,
    seed: int = 0,
    noise: float = 20.0,
    subjects: int = 4,
) -> FaceDataset:
    """Separable toy 'faces': class k is a bright horizontal band at row position k, plus noise."""
    rng = np.random.default_rng(seed)
    imgs, labels, subj = [], [], []
    for k in range(classes):
        for i in range(n_per_class):
            im = np.full((size, size), 60.0)
            r0 = (k * size) // classes
            im[r0 : r0 + max(2, size // classes), :] = 200.0
            im += rng.normal(0, noise, im.shape)
            imgs.append(np.clip(im, 0, 255).astype(np.uint8))
            labels.append(k)
            subj.append(f"S{i % subjects:03d}")
    n = len(labels)
    names = LABELS[:classes]
    return FaceDataset(
        images=np.stack(imgs),
        labels=np.array(labels, np.int64),
        label_names=tuple(names),
        splits=np.array([""] * n),
        subjects=np.array(subj),
        paths=[f"row:{i}" for i in range(n)],
        report=DatasetReport(format="synthetic", path="<memory>"),
        fingerprint=f"synthetic-{seed}",
    )


def tiny_cfg(classes: int = 3, size: int = 16, five_crop: int = 0, **recipe) -> tuple[ModelCfg, Recipe]:
    """(config, training recipe) of an unregistered tiny net (``model.cfg, model.recipe = tiny_cfg(...)``)."""
    rec = dict(
        optimizer="sgd", lr=0.05, momentum=0.9, schedule="constant", batch_size=8, epochs=3, augment=()
    )
    rec.update(recipe)
    return (
        ModelCfg(name="tiny_test_net", input_size=(size, size), labels=LABELS[:classes], five_crop=five_crop),
        Recipe(**rec),
    )


def recipe_of(model) -> Recipe:
    """A test model's recipe: a tiny net's own (``model.recipe``), else its registered architecture's."""
    from ferapp.zoo.registry import get_recipe

    return getattr(model, "recipe", None) or get_recipe(model.cfg.name)


class TinyNet(nn.Module):
    """conv -> BN -> relu -> pool -> dropout -> fc; also exposes the P3/P4 hooks for tests."""

    def __init__(self, classes: int = 3, width: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(width * 16, classes)
        self.num_features = width * 16

    def _u1(self, x):
        return torch.relu(self.bn(self.conv(x)))

    def _u2(self, h):
        return nn.functional.adaptive_avg_pool2d(torch.relu(self.conv2(h)), 4)

    def forward_features(self, x):
        return self._u2(self._u1(x)).flatten(1)

    def forward_head(self, e, pre_logits=False):
        return e if pre_logits else self.fc(self.drop(e))

    def forward(self, x):
        return self.forward_head(self.forward_features(x))

    # P3 contract
    def hidden_layers(self):
        return [nn.ModuleList([self.conv, self.bn]), self.conv2]

    def forward_hidden(self, x):
        z1 = self._u1(x)
        z2 = self._u2(z1.detach())
        return [z1, z2]

    def head_parameters(self):
        return list(self.fc.parameters())


class TinyBNN(nn.Module):
    """Sign-binarized linear layers with a straight-through estimator and clip_latent_()."""

    class _Sign(torch.autograd.Function):
        @staticmethod
        def forward(ctx, w):
            ctx.save_for_backward(w)
            return torch.where(w >= 0, torch.ones_like(w), -torch.ones_like(w))

        @staticmethod
        def backward(ctx, g):
            (w,) = ctx.saved_tensors
            return g * (w.abs() <= 1).to(g.dtype)

    def __init__(self, in_features: int, classes: int = 3, hidden: int = 32):
        super().__init__()
        self.w1 = nn.Parameter(torch.empty(hidden, in_features).uniform_(-1, 1))
        self.bn1 = nn.BatchNorm1d(hidden)
        self.w2 = nn.Parameter(torch.empty(classes, hidden).uniform_(-1, 1))
        self.bn2 = nn.BatchNorm1d(classes)
        self.clip_calls = 0

    def forward(self, x):
        x = x.flatten(1)
        h = self.bn1(x @ self._Sign.apply(self.w1).T)
        h = self._Sign.apply(h)
        return self.bn2(h @ self._Sign.apply(self.w2).T)

    def clip_latent_(self):
        self.clip_calls += 1
        with torch.no_grad():
            self.w1.clamp_(-1, 1)
            self.w2.clamp_(-1, 1)


def make_tiny(classes: int = 3, size: int = 16, **recipe):
    torch.manual_seed(0)
    m = TinyNet(classes)
    m.cfg, m.recipe = tiny_cfg(classes, size, **recipe)
    return m


def write_fer_csv(path, per_class: int = 4, seed: int = 0):
    """A FER2013-format csv (emotion,pixels,Usage) of random 48x48 faces: ``per_class`` rows of
    each of the 7 classes in each of Training / PublicTest / PrivateTest."""
    from pathlib import Path

    rng = np.random.default_rng(seed)
    lines = ["emotion,pixels,Usage"]
    for usage in ("Training", "PublicTest", "PrivateTest"):
        for c in range(7):
            for _ in range(per_class):
                px = " ".join(map(str, rng.integers(0, 256, 48 * 48)))
                lines.append(f"{c},{px},{usage}")
    p = Path(path)
    p.write_text("\n".join(lines) + "\n")
    return p

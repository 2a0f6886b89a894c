"""Expression engine: a zoo model (trained weights or random init) classifying face crops in one batch.

Crops come from ``ferapp.detect.align.align_face`` (live) and go through
``ferapp.zoo.predict.predict_probs``, the one inference function evaluation also uses
(preprocessing, P5's five-crop voting and mirror TTA from the model config).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np

from ferapp.labels import LABEL_INDEX, LABELS

log = logging.getLogger(__name__)

def to_canonical(probs: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Map (N, len(labels)) probabilities onto canonical LABELS order (extra classes dropped, renormalised)."""
    labels = tuple(labels)
    if labels == LABELS:
        return probs
    out = np.zeros((probs.shape[0], len(LABELS)), dtype=np.float32)
    for j, name in enumerate(labels):
        i = LABEL_INDEX.get(name)
        if i is not None:
            out[:, i] = probs[:, j]
    s = out.sum(axis=1, keepdims=True)
    s[s <= 0] = 1.0
    return out / s


class InvalidOutput(ValueError):
    """A model produced something that is not a probability distribution (NaN, inf, wrong sum)."""


def check_probs(probs: np.ndarray, name: str = "model") -> np.ndarray:
    """Probabilities that are finite, in [0, 1] and sum to 1 per row, or InvalidOutput: nothing
    else may reach a timeline."""
    if probs.size and not (np.isfinite(probs).all() and (probs >= -1e-6).all()
                           and np.allclose(probs.sum(axis=1), 1.0, atol=1e-3)):
        raise InvalidOutput(f"model {name!r} produced invalid probabilities (NaN, infinite or not summing "
                            "to 1): its weights or config are broken; pick another model")
    return probs


# An engine optimizes its network once it has classified this many faces: tracing + freezing
# resnet20 costs ~0.45 CPU-s and saves ~6 ms per face (2-core AMD EPYC, AVX2, 1 thread, loaded),
# so it pays for itself after ~75 faces; a one-frame `ferapp analyze` never pays it, and a long
# run pays at most the cost twice over (the ski-rental rule: rent until renting cost the price).
OPTIMIZE_AFTER_FACES = 64


def optimize_for_inference(model, cfg, device: str = "cpu"):
    """Trace + freeze the network (folds BatchNorm into convs, drops Python overhead: ~5x faster
    per face on this CPU for resnet20). Used only when its outputs match the eager model on a
    random batch; otherwise the eager model is returned. Returns (net, optimized)."""
    import torch

    c = cfg.channels
    h, w = cfg.net_input_size
    try:
        with torch.no_grad():
            example = torch.randn(2, c, h, w, device=device)
            net = torch.jit.freeze(torch.jit.trace(model, example, check_trace=False))
            probe = torch.randn(5, c, h, w, device=device)
            ok = torch.allclose(net(probe).float(), model(probe).float(), atol=1e-4, rtol=1e-4)
        if ok:
            return net, True
        log.info("optimized graph of %s disagrees with eager; using eager", cfg.name)
    except Exception as e:  # noqa: BLE001 - tracing is an optimisation, never a failure
        log.info("could not optimize %s (%s); using eager", cfg.name, e)
    return model, False


class ExpressionEngine:
    """Loads a model reference and classifies batches of face crops.

    ``ref``: a trained model name, a model folder or checkpoint path, or an architecture name
    (random weights; ``trained`` is False and a warning is logged). None = the default model.
    """

    def __init__(self, ref: str | None = None, device: str = "auto", threads: int | None = None,
                 optimize: bool | None = None, packed: bool = True):
        """``packed``: a P5 model folder with ``model.packed.npz`` runs its 1-bit XNOR/popcount
        path (what the paper is about), on the CPU; False runs the float network.
        ``optimize``: True = now, False = never, None (default) = once ``OPTIMIZE_AFTER_FACES``
        faces are classified (``FERAPP_JIT=0``: never)."""
        import torch

        from ferapp.inference.device import configure_threads, resolve_device
        from ferapp.zoo.store import default_model_name, resolve_model

        self.threads = configure_threads(threads)
        lazy = optimize is None
        if optimize is None:
            optimize = os.environ.get("FERAPP_JIT", "1") != "0"
        self.device = resolve_device(device)
        ref = ref or default_model_name()
        loaded = resolve_model(ref)
        self.ref = ref
        self.cfg = loaded.cfg
        self.meta = dict(loaded.meta or {})
        self.source = loaded.source  # shipped | user | file | architecture (timelines record it)
        self.trained = bool(self.meta.get("trained", True))
        self.name = self.meta.get("name") or getattr(self.cfg, "name", str(ref))
        if not self.trained:
            log.info("model %r has no trained weights: predictions are random (train one with `ferapp train`)",
                        ref)
        self.packed = bool(packed and loaded.packed_path is not None)
        if self.packed:  # P5: the 1-bit path (numpy XNOR/popcount on the CPU)
            loaded = loaded.packed_model()
            self.device = torch.device("cpu")
            optimize = False
        self.model = loaded.model
        self.model.eval()
        if hasattr(self.model, "to"):
            self.model.to(self.device)
        self._torch = torch
        self.net = self.model  # what classify() runs: a frozen TorchScript graph when that is verified equal
        self.optimized = False
        self._faces = 0  # classified so far
        self._optimize_after: int | None = None  # faces after which the network is optimized
        from ferapp.zoo.predict import is_ensemble

        if optimize and not is_ensemble(self.model):
            if lazy:
                self._optimize_after = OPTIMIZE_AFTER_FACES
            else:
                self.optimize_now()

    def optimize_now(self) -> bool:
        """Trace + freeze the network now (if it can be) instead of after ``OPTIMIZE_AFTER_FACES``."""
        self._optimize_after = None
        if not self.optimized:
            self.net, self.optimized = optimize_for_inference(self.model, self.cfg, self.device)
        return self.optimized

    @property
    def crop_size(self) -> tuple[int, int]:
        """(H, W) faces are aligned to for this model: its config's ``crop_size`` (FER2013's framing
        at the model's own input size, like its training data)."""
        return self.cfg.crop_size

    @property
    def display_name(self) -> str:
        return self.name if self.trained else f"{self.name} (untrained)"

    def classify(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """uint8 face crops -> (N, 7) float32 probabilities in canonical order (one batch).
        Raises InvalidOutput when the model's output is not a probability distribution."""
        from ferapp.zoo.predict import predict_probs

        if len(crops) == 0:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        if self._optimize_after is not None:
            if self._faces >= self._optimize_after:
                self.optimize_now()
            self._faces += len(crops)
        with self._torch.inference_mode():
            probs = predict_probs(self.model, self.cfg, list(crops), net=self.net)
        return check_probs(to_canonical(probs, self.cfg.labels), self.name)

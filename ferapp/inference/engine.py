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
    else may reach a timeline. (A NaN or an infinity makes its row sum non-finite.)"""
    if probs.size:
        sums = probs.sum(axis=1)
        if not (np.isfinite(sums).all() and probs.min() >= -1e-6 and np.abs(sums - 1.0).max() <= 1e-3):
            raise InvalidOutput(
                f"model {name!r} produced invalid probabilities (NaN, infinite or not summing "
                "to 1): its weights or config are broken; pick another model"
            )
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
    except Exception as e:  # tracing is an optimisation, never a failure
        log.info("could not optimize %s (%s); using eager", cfg.name, e)
    return model, False


PRECISIONS = ("auto", "float", "int8")


def int8_wanted(precision: str | None) -> bool:
    """``auto`` means int8 unless FERAPP_INT8=0 (the float network, for comparisons)."""
    if precision in (None, "", "auto"):
        return os.environ.get("FERAPP_INT8", "1") != "0"
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (use {', '.join(PRECISIONS)})")
    return precision == "int8"


def inference_net(loaded, device: str = "cpu", precision: str | None = "auto", optimize: bool = True):
    """What the live path runs for a loaded model on ``device``: (net, precision). On the CPU,
    a model folder with ``int8.json`` runs its int8 network (``ferapp.zoo.quantize``; ``auto``
    or ``int8``), else the traced + frozen float network when it matches the eager one, else
    the model itself. ``ferapp eval`` calls this too, so it measures what the live path runs."""
    from ferapp.zoo.predict import is_ensemble

    model, cfg = loaded.model, loaded.cfg
    if precision == "int8" and (str(device) != "cpu" or loaded.int8_path is None):
        raise ValueError(
            f"{loaded.name}: no int8 network "
            + ("on this device (int8 runs on the CPU)" if str(device) != "cpu" else "(no int8.json)")
        )
    if (
        str(device) == "cpu"
        and loaded.int8_path is not None
        and int8_wanted(precision)
        and not is_ensemble(model)
    ):
        from ferapp.zoo import quantize

        if quantize.supported():
            try:
                return quantize.load_int8_net(model, cfg, loaded.int8_path), "int8"
            except Exception as e:
                if precision == "int8":
                    raise
                log.warning("int8 network of %s not used (%s); running the float network", loaded.name, e)
        elif precision == "int8":
            raise ValueError("this torch build has no x86 int8 engine (fbgemm)")
    if optimize and not is_ensemble(model):
        net, ok = optimize_for_inference(model, cfg, device)
        return net, "float32" if ok else "float32 (eager)"
    return model, "float32 (eager)"


class ExpressionEngine:
    """Loads a model reference and classifies batches of face crops.

    ``ref``: a trained model name, a model folder or checkpoint path, or an architecture name
    (random weights; ``trained`` is False and a warning is logged). None = the default model.
    """

    def __init__(
        self,
        ref: str | None = None,
        device: str | None = None,
        threads: int | None = None,
        optimize: bool | None = None,
        packed: bool = True,
        precision: str | None = "auto",
    ):
        """``packed``: a P5 model folder with ``model.packed.npz`` runs its 1-bit XNOR/popcount
        path (what the paper is about), on the CPU; False runs the float network.
        ``precision``: ``auto`` (int8 on the CPU where the model ships ``int8.json``, see
        ``inference_net``), ``float`` or ``int8``. ``device`` / ``threads`` None: the settings' (``ferapp.config``, inference); ``auto`` = CUDA, then Apple MPS,
        then the CPU; an operation MPS lacks moves the model to the CPU with a logged message
        (``fallback``). ``optimize`` (the float network): True = trace + freeze now, False =
        never, None (default) = once ``OPTIMIZE_AFTER_FACES`` faces are classified
        (``FERAPP_JIT=0``: never). The int8 network is built at once (~0.1 s)."""
        import torch

        from ferapp.config import settings
        from ferapp.inference.device import configure_threads, resolve_device
        from ferapp.zoo.store import default_model_name, resolve_model

        self.threads = configure_threads(threads)
        lazy = optimize is None
        if optimize is None:
            optimize = os.environ.get("FERAPP_JIT", "1") != "0"
        int8_wanted(precision)  # an unknown precision fails before anything loads
        self.device = resolve_device(settings().inference.device if device is None else device)
        ref = ref or default_model_name()
        loaded = resolve_model(ref)
        self.ref = ref
        self.cfg = loaded.cfg
        self.meta = dict(loaded.meta or {})
        self.source = loaded.source  # shipped | user | file | architecture (timelines record it)
        self.trained = bool(self.meta.get("trained", True))
        self.name = self.meta.get("name") or getattr(self.cfg, "name", str(ref))
        if not self.trained:
            log.info(
                "model %r has no trained weights: predictions are random (train one with `ferapp train`)", ref
            )
        self.packed = bool(packed and loaded.packed_path is not None)
        if self.packed:  # P5: the 1-bit path (numpy XNOR/popcount on the CPU)
            loaded = loaded.packed_model()
            self.device = "cpu"
            optimize = False
        self._torch = torch
        self.model = loaded.model
        self.model.eval()
        self.fallback: str | None = None  # why the model runs on the CPU instead of the device asked for
        self.net = self.model  # what classify() runs: int8 or a frozen TorchScript graph when verified
        self.precision = "float32 (eager)"
        self.optimized = False  # a verified traced graph or the int8 network
        self._faces = 0  # classified so far
        self._optimize_after: int | None = None  # faces after which the float network is optimized
        self._loaded = loaded
        self._optimize = optimize
        self._lazy = lazy
        self._precision_wanted = precision
        from ferapp.inference.device import with_cpu_fallback

        self.device, _, self.fallback = with_cpu_fallback(self.device, self._place, f"model {self.name}")

    def _place(self, device: str) -> None:
        """Move the model to ``device`` and pick its network there; on an accelerator, run it
        once (so an operation the device lacks shows up now, not on the first face)."""
        from ferapp.zoo.predict import is_ensemble

        if hasattr(self.model, "to"):
            self.model.to(device)
        self.device = device
        self._optimize_after = None
        if self.packed:
            self.net, self.precision = self.model, "1-bit packed"
        else:
            eager = not self._optimize or self._lazy  # the float network is traced later (or never)
            self.net, self.precision = inference_net(self._loaded, device, self._precision_wanted, not eager)
            if (
                self.precision == "float32 (eager)"
                and self._optimize
                and self._lazy
                and not is_ensemble(self.model)
            ):
                self._optimize_after = OPTIMIZE_AFTER_FACES
        self.optimized = self.precision in ("float32", "int8")
        if not str(device).startswith("cpu"):
            self._classify([np.full(self.cfg.input_size, 128, np.uint8)])

    def optimize_now(self) -> bool:
        """Trace + freeze the float network now (if it can be) instead of after ``OPTIMIZE_AFTER_FACES``."""
        self._optimize_after = None
        if not self.optimized and not self.packed:
            self.net, self.optimized = optimize_for_inference(self.model, self.cfg, self.device)
            if self.optimized:
                self.precision = "float32"
        return self.optimized

    @property
    def crop_size(self) -> tuple[int, int]:
        """(H, W) faces are aligned to for this model: its config's ``crop_size`` (FER2013's framing
        at the model's own input size, like its training data)."""
        return self.cfg.crop_size

    @property
    def display_name(self) -> str:
        return self.name if self.trained else f"{self.name} (untrained)"

    def _classify(self, crops) -> np.ndarray:
        from ferapp.zoo.predict import predict_probs

        with self._torch.inference_mode():
            return predict_probs(self.model, self.cfg, crops, net=self.net)

    def classify(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """uint8 face crops -> (N, 7) float32 probabilities in canonical order (one batch).
        Raises InvalidOutput when the model's output is not a probability distribution."""
        if len(crops) == 0:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        if self._optimize_after is not None:
            if self._faces >= self._optimize_after:
                self.optimize_now()
            self._faces += len(crops)
        if self.fallback is None and self.device.startswith("mps"):
            from ferapp.inference.device import with_cpu_fallback

            def run(device):
                if device != self.device:
                    self._place(device)
                return self._classify(list(crops))

            self.device, probs, self.fallback = with_cpu_fallback(self.device, run, f"model {self.name}")
        else:
            probs = self._classify(list(crops))
        return check_probs(to_canonical(probs, self.cfg.labels), self.name)

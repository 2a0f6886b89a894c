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


def _onnx_int8(folder, cfg, threads: int | None, name: str):
    """The folder's checked int8 ONNX network (``ferapp.zoo.onnx_net``) for onnxruntime, or None
    (no such file, no onnxruntime, or a network that fails its check: logged)."""
    from ferapp.zoo import onnx_net

    if onnx_net.int8_onnx_path(folder) is None or not onnx_net.available():
        return None
    if threads is None:
        from ferapp.config import settings

        threads = settings().inference.torch_threads()
    try:
        return onnx_net.load(folder, cfg, threads)
    except Exception as e:
        log.warning("int8 ONNX network of %s not used (%s)", name, e)
        return None


def onnx_allowed(runtime: str | None = None) -> bool:
    """Whether the CPU may run a model's ``int8.onnx`` with onnxruntime: ``runtime`` ``auto``
    (default) or ``onnxruntime``; ``torch`` keeps torch's networks. None: ``FERAPP_RUNTIME``
    (``torch`` is the escape hatch, e.g. to compare the two)."""
    name = (runtime or os.environ.get("FERAPP_RUNTIME") or "auto").strip().lower()
    if name not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, not {name!r}")
    return name != "torch"


RUNTIMES = ("auto", "onnxruntime", "torch")


def inference_net(
    loaded,
    device: str = "cpu",
    precision: str | None = "auto",
    optimize: bool = True,
    threads: int | None = None,
    runtime: str | None = None,
):
    """What the live path runs for a loaded model on ``device``: (net, precision). On the CPU
    (``auto`` or ``int8``), a model folder's ``int8.onnx`` through onnxruntime
    (``ferapp.zoo.onnx_net``; ``runtime``, see ``onnx_allowed``), else its ``int8.json`` through
    torch (``ferapp.zoo.quantize``); otherwise the traced + frozen float network when it matches
    the eager one, else the model itself. ``precision="int8"`` raises when no int8 network loads.
    ``ferapp eval`` calls this too, so it measures what the live path runs."""
    from ferapp.zoo.predict import is_ensemble

    model, cfg = loaded.model, loaded.cfg
    cpu = str(device) == "cpu"
    if precision == "int8" and (not cpu or not loaded.has_int8):
        raise ValueError(
            f"{loaded.name}: no int8 network "
            + ("on this device (int8 runs on the CPU)" if not cpu else "(no int8.onnx or int8.json)")
        )
    if cpu and int8_wanted(precision) and not is_ensemble(model):
        net = _onnx_int8(loaded.path, cfg, threads, loaded.name) if onnx_allowed(runtime) else None
        if net is not None:
            return net, "int8"
        net = _torch_int8(loaded, strict=precision == "int8")
        if net is not None:
            return net, "int8"
    if optimize and not is_ensemble(model):
        net, ok = optimize_for_inference(model, cfg, device)
        return net, "float32" if ok else "float32 (eager)"
    return model, "float32 (eager)"


def _torch_int8(loaded, strict: bool):
    """The folder's ``int8.json`` network through torch (``ferapp.zoo.quantize``), or None (logged).
    ``strict`` (int8 asked for explicitly): raise instead of returning None."""
    from ferapp.zoo import quantize

    why = None
    if loaded.int8_path is None:
        why = "no int8.json, and its int8.onnx was not used (see the log)"
    elif not quantize.supported():
        why = "this torch build has no x86 int8 engine (fbgemm)"
    else:
        try:
            return quantize.load_int8_net(loaded.model, loaded.cfg, loaded.int8_path)
        except Exception as e:
            if strict:
                raise
            log.warning("int8 network of %s not used (%s); running the float network", loaded.name, e)
            return None
    if strict:
        raise ValueError(f"{loaded.name}: no int8 network ({why})")
    return None


def onnx_plan(
    ref: str | None,
    device: str | None,
    precision: str | None = "auto",
    packed: bool = True,
    runtime: str | None = None,
):
    """(folder, source, cfg, meta) when ``ExpressionEngine(ref, device, ...)`` will run the
    model folder's ``int8.onnx`` with onnxruntime and never import torch, else None; answered
    without importing torch (the window asks it before loading torch's libraries)."""
    from ferapp.inference.device import cpu_without_torch
    from ferapp.zoo import onnx_net
    from ferapp.zoo.catalog import config_to_cfg, default_model_name, find_model_folder, read_config

    if device is None:
        from ferapp.config import settings

        device = settings().inference.device
    ok = (
        onnx_allowed(runtime)
        and int8_wanted(precision)
        and cpu_without_torch(device)
        and onnx_net.available()
    )
    found = find_model_folder(ref or default_model_name()) if ok else None
    if found is None or onnx_net.int8_onnx_path(found[0]) is None:
        return None
    folder, source = found
    if packed and any(folder.glob("*.packed.npz")):
        return None  # P5's 1-bit path is the torch engine's
    raw, meta = read_config(folder)
    if "ensemble" in raw or "ensemble" in meta:
        return None
    meta.setdefault("name", folder.name)
    return folder, source, config_to_cfg(raw), meta


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
        runtime: str | None = None,
    ):
        """``packed``: a P5 model folder with ``model.packed.npz`` runs its 1-bit XNOR/popcount
        path (what the paper is about), on the CPU; False runs the float network.
        ``precision``: ``auto`` (int8 on the CPU where the model ships ``int8.onnx`` or
        ``int8.json``, see ``inference_net``), ``float`` or ``int8``. ``runtime``: ``auto``
        (the ``int8.onnx`` network through onnxruntime when it can: then torch is not even
        imported), ``onnxruntime`` or ``torch`` (None: ``FERAPP_RUNTIME``, see ``onnx_allowed``).
        ``device`` / ``threads`` None: the settings' (``ferapp.config``, inference); ``auto`` = CUDA, then Apple MPS,
        then the CPU; an operation MPS lacks moves the model to the CPU with a logged message
        (``fallback``). ``optimize`` (the float network): True = trace + freeze now, False =
        never, None (default) = once ``OPTIMIZE_AFTER_FACES`` faces are classified
        (``FERAPP_JIT=0``: never). The int8 network is built at once (~0.1 s)."""
        from ferapp.zoo.catalog import default_model_name

        int8_wanted(precision)  # an unknown precision fails before anything loads
        onnx_allowed(runtime)  # and an unknown runtime
        ref = ref or default_model_name()
        self.ref = ref
        self.fallback: str | None = None  # why the model runs on the CPU instead of the device asked for
        self._faces = 0  # classified so far
        self._optimize_after: int | None = None  # faces after which the float network is optimized
        self.runtime = "torch"  # or "onnxruntime": the shipped int8 ONNX network, no torch imported
        self._runtime_wanted = runtime
        if self._init_onnx(ref, device, threads, precision, packed, runtime):
            return
        self._init_torch(ref, device, threads, optimize, packed, precision)

    def _init_onnx(
        self, ref: str, device: str | None, threads: int | None, precision, packed: bool, runtime
    ) -> bool:
        """Run ``ref``'s shipped ``int8.onnx`` with onnxruntime, without importing torch, when
        the device is certainly the CPU and int8 is wanted. False (nothing set up) otherwise."""
        plan = onnx_plan(ref, device, precision, packed, runtime)
        if plan is None:
            return False
        folder, source, cfg, meta = plan
        net = _onnx_int8(folder, cfg, threads, meta["name"])
        if net is None:  # failed its checks (logged): torch's networks, without a second try
            self._runtime_wanted = "torch"
            return False
        self.threads, self.device, self.cfg, self.meta, self.source = (
            net.threads,
            "cpu",
            cfg,
            dict(meta),
            source,
        )
        self.trained = bool(self.meta.get("trained", True))
        self.name = self.meta.get("name") or cfg.name
        self.packed, self.model, self._torch, self._loaded = False, None, None, None
        self.net, self.precision, self.optimized, self.runtime = net, "int8", True, "onnxruntime"
        self._optimize, self._lazy, self._precision_wanted = False, False, precision
        return True

    def _init_torch(self, ref: str, device, threads, optimize, packed: bool, precision) -> None:
        import torch

        from ferapp.config import settings
        from ferapp.inference.device import configure_threads, resolve_device
        from ferapp.zoo.store import resolve_model

        self.threads = configure_threads(threads)
        lazy = optimize is None
        if optimize is None:
            optimize = os.environ.get("FERAPP_JIT", "1") != "0"
        self.device = resolve_device(settings().inference.device if device is None else device)
        loaded = resolve_model(ref)
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
        self.net = self.model  # what classify() runs: int8 or a frozen TorchScript graph when verified
        self.precision = "float32 (eager)"
        self.optimized = False  # a verified traced graph or an int8 network
        self._loaded = loaded
        self._optimize = optimize
        self._lazy = lazy
        self._precision_wanted = precision
        from ferapp.inference.device import with_cpu_fallback

        self.device, _, self.fallback = with_cpu_fallback(self.device, self._place, f"model {self.name}")
        self.runtime = getattr(self.net, "runtime", "torch")

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
            self.net, self.precision = inference_net(
                self._loaded, device, self._precision_wanted, not eager, self.threads, self._runtime_wanted
            )
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
        if not self.optimized and not self.packed and self.model is not None:
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
        if self.runtime == "onnxruntime":
            from ferapp.zoo import onnx_net

            return onnx_net.predict_probs(self.net, self.cfg, crops)
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

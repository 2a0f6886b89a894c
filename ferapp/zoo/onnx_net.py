"""The int8 CPU network a model folder ships as ONNX, run by onnxruntime: no torch in the process.

Why: a live CPU run spent most of its start-up importing torch (~3 CPU-s of a one-frame
``ferapp analyze`` on a 2-core AMD EPYC) and half of each frame in the network. Importing
onnxruntime and loading and checking the default model takes ~0.4 CPU-s, and its int8 kernels
(MLAS) run ResNet-20's two test-time views in about half the time of torch's int8 network on the
same AVX2 CPU (``ferapp bench``, "float vs int8": 3.5 against 6.5 ms).

What a folder ships (``training/export_onnx.py`` writes both):

- ``int8.onnx``: the network in ONNX QDQ form (BatchNorm folded; activations u8 per tensor,
  weights s8 per output channel in [-64, 63], the first convolution and the classifier float;
  activation ranges calibrated on FER2013 *Training* faces with the model's own preprocessing
  and test-time views);
- ``onnx.json``: how it was made and measured (PublicTest, directly and through the live path,
  against the float network), its SHA-256, and a check: the logits of a fixed probe input.
  A network that does not reproduce its check within ``CHECK_TOLERANCE`` is not used (the engine
  falls back to torch with a logged reason).

Preprocessing and the test-time views are ``ferapp.preprocess``'s, the same functions the torch
path and training use; ``predict_probs`` here is ``ferapp.zoo.predict.predict_probs`` for an
``OnnxNet`` (that function hands such a net over to this one).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ferapp.preprocess import crops_to_array, merge_views, view_batch
from ferapp.zoo.registry import ModelCfg

log = logging.getLogger(__name__)

FILE = "int8.onnx"
RECORD = "onnx.json"
FORMAT = "ferapp-onnx"
VERSION = 1
CHECK_TOLERANCE = 0.05  # logits: the network must reproduce the export's check within this
PROBE_SEED = 0


def available() -> bool:
    """True when onnxruntime is installed (it is a dependency; a platform without its wheels keeps
    torch's networks)."""
    return importlib.util.find_spec("onnxruntime") is not None


def int8_onnx_path(folder: Path | None) -> Path | None:
    """``folder/int8.onnx`` when the folder ships it with its record, else None."""
    if folder is None or not folder.is_dir():
        return None
    p = folder / FILE
    return p if p.is_file() and (folder / RECORD).is_file() else None


def probe_input(cfg: ModelCfg, n: int = 2) -> np.ndarray:
    """The fixed input whose logits ``onnx.json`` records (the check)."""
    h, w = cfg.net_input_size
    return np.random.default_rng(PROBE_SEED).standard_normal((n, cfg.channels, h, w)).astype(np.float32)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_record(folder: Path) -> dict[str, Any]:
    rec = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    if rec.get("format") != FORMAT or int(rec.get("format_version", 0)) > VERSION:
        raise ValueError(f"{folder / RECORD}: not a {FORMAT} record (version {VERSION})")
    return rec


class OnnxNet:
    """An onnxruntime session on the CPU: ``net(x)`` maps float32 (N, C, H, W) to (N, K) logits."""

    runtime = "onnxruntime"

    def __init__(self, path: Path, threads: int = 1):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = max(1, int(threads))
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3  # warnings about unused initialisers etc. are not the user's
        self.path = Path(path)
        self.threads = so.intra_op_num_threads
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self._input = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        return self.session.run(None, {self._input: x})[0]


def load(folder: Path, cfg: ModelCfg, threads: int = 1) -> OnnxNet:
    """The folder's int8 ONNX network, checked: its SHA-256 and its probe logits must match its
    record. ValueError (with the reason) otherwise."""
    path = int8_onnx_path(folder)
    if path is None:
        raise ValueError(f"{folder}: no {FILE} with its {RECORD}")
    rec = read_record(folder)
    if rec.get("sha256") and rec["sha256"] != file_sha256(path):
        raise ValueError(f"{path}: its SHA-256 differs from {RECORD}'s (a changed or damaged file)")
    net = OnnxNet(path, threads)
    check = rec.get("check")
    if check is not None:
        got = net(probe_input(cfg, len(check)))
        diff = float(np.abs(got - np.asarray(check, np.float32)).max())
        if not np.isfinite(diff) or diff > CHECK_TOLERANCE:
            raise ValueError(f"{path}: probe logits differ from its record by {diff:.3g}")
    return net


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits.astype(np.float64) / float(temperature)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def predict_probs(
    net, cfg: ModelCfg, crops: Sequence[np.ndarray] | np.ndarray, batch: int = 256
) -> np.ndarray:
    """uint8 crops -> (N, K) float32 probabilities in ``cfg.labels`` order, through an array
    network (``OnnxNet``): the one preprocessing, the model's test-time views, its temperature."""
    out = []
    for i in range(0, len(crops), batch):
        x = crops_to_array(crops[i : i + batch], cfg)
        xs, views, n_crops = view_batch(x, cfg)
        logits = merge_views(net(xs), len(x), views, n_crops)
        out.append(softmax(logits, cfg.temperature))
    if not out:
        return np.zeros((0, cfg.num_classes), np.float32)
    return np.concatenate(out)


__all__ = [
    "FILE",
    "RECORD",
    "OnnxNet",
    "available",
    "int8_onnx_path",
    "load",
    "predict_probs",
    "probe_input",
    "read_record",
]

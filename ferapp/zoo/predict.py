"""THE inference function: uint8 face crops -> class probabilities, for one model or an ensemble.

Used by the live engine, ``ferapp eval`` / evaluation, the ensemble builder and the bench; the
trainer's validation calls ``logits_from_input`` (the same test-time views on tensors it has
already preprocessed). So preprocessing (``ferapp.preprocess.preprocess_face``), P5's five-crop
voting and mirror test-time augmentation exist once: a change here changes every path at once,
and ``tests/test_realdata_models.py`` checks the live engine and ``ferapp eval`` agree on every
shipped model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ferapp.preprocess import crops_to_array, merge_views, view_batch
from ferapp.zoo.registry import ModelCfg


def crops_to_tensor(crops: Sequence[np.ndarray] | np.ndarray, cfg: ModelCfg) -> torch.Tensor:
    """uint8 crops (list of (H, W[, 3]) or an (N, H, W[, 3]) array) -> float (N, C, H, W) per cfg."""
    return torch.from_numpy(crops_to_array(crops, cfg))


@torch.no_grad()
def logits_from_input(model: torch.nn.Module, x: torch.Tensor, cfg: ModelCfg) -> torch.Tensor:
    """(N, C, H, W) normalised input at cfg.input_size -> (N, K) outputs. Five-crop models run
    the 5 crops and average their outputs (P5's voting); ``cfg.flip_tta`` models also run the
    mirrored input and average. All views go through the network as one batch
    (``ferapp.preprocess.view_batch``, the views the onnxruntime path uses too)."""
    xs, views, crops = view_batch(x, cfg)
    return merge_views(model(xs), x.shape[0], views, crops)


def is_ensemble(model) -> bool:
    from ferapp.zoo.store import EnsembleModel

    return isinstance(model, EnsembleModel)


@torch.no_grad()
def predict_probs(
    model,
    cfg: ModelCfg,
    crops: Sequence[np.ndarray] | np.ndarray,
    batch: int = 256,
    net: torch.nn.Module | None = None,
) -> np.ndarray:
    """uint8 crops -> (N, K) float32 softmax probabilities in ``cfg.labels`` order.

    ``model``: a zoo network or an ``EnsembleModel`` (whose members each get their own
    preprocessing; it averages their probabilities with its weights). ``net``: what to run
    instead of ``model`` itself (the engine's traced + frozen copy of the same network)."""
    if is_ensemble(model):
        return model.classify_probs(crops, batch=batch)
    if getattr(net, "runtime", None) == "onnxruntime":  # an array network: no tensors
        from ferapp.zoo import onnx_net

        return onnx_net.predict_probs(net, cfg, crops, batch=batch)
    run = net if net is not None else model
    was_training = model.training
    if was_training:  # (switching a net's mode walks every module: ~1.5 ms per call for resnet20)
        model.eval()
    try:
        p = next(model.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
        dtype = p.dtype if p is not None and p.is_floating_point() else torch.float32
        out = []
        for i in range(0, len(crops), batch):
            x = crops_to_tensor(crops[i : i + batch], cfg).to(device=device, dtype=dtype)
            logits = logits_from_input(run, x, cfg).float()
            out.append(torch.softmax(logits / float(cfg.temperature), dim=1).cpu())
        if not out:
            return np.zeros((0, cfg.num_classes), np.float32)
        return torch.cat(out).numpy().astype(np.float32)
    finally:
        if was_training:
            model.train(True)


__all__ = ["crops_to_tensor", "logits_from_input", "predict_probs", "is_ensemble"]

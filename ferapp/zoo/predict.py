"""Uniform "uint8 face crops -> class probabilities" for one model or an ensemble.

This is the one place that turns crops into model input for inference (the shared
``ferapp.preprocess.preprocess_face`` + five-crop averaging for P5 models), so an ensemble
whose members have different input specs can feed each member correctly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ferapp.preprocess import five_crops, preprocess_face
from ferapp.zoo.registry import ModelCfg


def crops_to_tensor(crops: Sequence[np.ndarray] | np.ndarray, cfg: ModelCfg) -> torch.Tensor:
    """uint8 crops (list of (H, W[, 3]) or an (N, H, W[, 3]) array) -> float (N, C, H, W) per cfg."""
    if isinstance(crops, np.ndarray) and crops.ndim == 2:
        crops = [crops]
    arr = np.stack([preprocess_face(np.asarray(c), cfg) for c in crops]) if len(crops) else \
        np.zeros((0, cfg.channels, *cfg.input_size), np.float32)
    return torch.from_numpy(arr)


@torch.no_grad()
def logits_from_input(model: torch.nn.Module, x: torch.Tensor, cfg: ModelCfg) -> torch.Tensor:
    """(N, C, H, W) normalised input at cfg.input_size -> (N, K) logits. Five-crop models run
    the 5 crops and average their outputs (P5's voting); ``cfg.flip_tta`` models also run the
    mirrored input and average. All views go through the network as one batch."""
    n = x.shape[0]
    views = 2 if cfg.flip_tta else 1
    xs = torch.cat([x, x.flip(-1)]) if views == 2 else x
    crops = 1
    if cfg.five_crop:
        xc = five_crops(xs, cfg.five_crop)
        xs, crops = xc.reshape(-1, *xc.shape[2:]), 5
    out = model(xs)
    if views == 1 and crops == 1:
        return out
    return out.reshape(views, n, crops, -1).mean(dim=(0, 2))


@torch.no_grad()
def predict_probs(model: torch.nn.Module, cfg: ModelCfg, crops: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """uint8 crops -> (N, K) float32 softmax probabilities in ``cfg.labels`` order (model in eval mode)."""
    was_training = model.training
    model.eval()
    try:
        x = crops_to_tensor(crops, cfg)
        p = next(model.parameters(), None)
        if p is not None:  # the engine may have moved the (member) model to a GPU
            x = x.to(device=p.device, dtype=p.dtype)
        if x.shape[0] == 0:
            return np.zeros((0, cfg.num_classes), np.float32)
        return torch.softmax(logits_from_input(model, x, cfg).float(), dim=1).cpu().numpy().astype(np.float32)
    finally:
        model.train(was_training)


__all__ = ["crops_to_tensor", "logits_from_input", "predict_probs"]

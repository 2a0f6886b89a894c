"""Augmentation on preprocessed float tensors (N, C, H, W): mirror, padded random crop, small
rotations, a combined geometric jitter (scale + shift + rotation), photometric jitter
(brightness, contrast, gamma-like curve), random erasing; and the batch-level mixes mixup and
cutmix (which also mix the targets). All randomness comes from the ``torch.Generator`` passed
in, so a batch's augmentation is reproducible (and identical after a resume)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ferapp.train.options import AUGMENTATIONS  # the names live in the option schema


def mirror(x: torch.Tensor, g: torch.Generator, p: float = 0.5) -> torch.Tensor:
    flip = (torch.rand(x.shape[0], generator=g) < p).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def random_crop(x: torch.Tensor, g: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Pad by ``pad`` (edge replicate) and crop back to the original size at a random offset."""
    n, _, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    rows = (oy[:, None] + torch.arange(h)[None]).to(x.device)  # (n, h)
    cols = (ox[:, None] + torch.arange(w)[None]).to(x.device)  # (n, w)
    idx_n = torch.arange(n, device=x.device)[:, None, None]
    out = xp.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]  # (n, h, w, c)
    return out.permute(0, 3, 1, 2).contiguous()


def random_rotate(x: torch.Tensor, g: torch.Generator, max_deg: float = 10.0) -> torch.Tensor:
    n = x.shape[0]
    ang = (torch.rand(n, generator=g) * 2 - 1) * math.radians(max_deg)
    cos, sin = torch.cos(ang), torch.sin(ang)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_affine(
    x: torch.Tensor, g: torch.Generator, scale: float = 0.15, shift: float = 0.1, max_deg: float = 15.0
) -> torch.Tensor:
    """Geometric jitter in one resampling: zoom in [1-scale, 1+scale], shift up to ``shift`` of
    the side in x and y, rotation up to ``max_deg`` degrees (border pixels replicated)."""
    n = x.shape[0]
    ang = (torch.rand(n, generator=g) * 2 - 1) * math.radians(max_deg)
    s = 1.0 + (torch.rand(n, generator=g) * 2 - 1) * scale
    tx = (torch.rand(n, generator=g) * 2 - 1) * shift * 2  # affine_grid coordinates span [-1, 1]
    ty = (torch.rand(n, generator=g) * 2 - 1) * shift * 2
    cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 2] = cos, -sin, tx
    theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 2] = sin, cos, ty
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def photometric(
    x: torch.Tensor, g: torch.Generator, brightness: float = 0.25, contrast: float = 0.3, gamma: float = 0.3
) -> torch.Tensor:
    """Brightness shift, contrast scale about the image mean and a gamma-like bend, per image,
    in normalised units (a normalised image spans about [-1, 1])."""
    n = x.shape[0]
    dims = (1, 2, 3)
    b = ((torch.rand(n, generator=g) * 2 - 1) * brightness).to(x)[:, None, None, None]
    c = (1.0 + (torch.rand(n, generator=g) * 2 - 1) * contrast).to(x)[:, None, None, None]
    k = ((torch.rand(n, generator=g) * 2 - 1) * gamma).to(x)[:, None, None, None]
    m = x.mean(dim=dims, keepdim=True)
    y = (x - m) * c + m + b
    # gamma-like bend that keeps -1 and 1 fixed: y + k * (1 - y^2) / 2
    return y + k * (1.0 - y.clamp(-1, 1) ** 2) * 0.5


def random_erase(
    x: torch.Tensor, g: torch.Generator, p: float = 0.5, area: tuple[float, float] = (0.02, 0.2)
) -> torch.Tensor:
    """Random erasing (Zhong et al.): with probability ``p`` a rectangle of 2-20% of the image
    is set to zero (the normalised mid-grey)."""
    n, _, h, w = x.shape
    do = torch.rand(n, generator=g) < p
    a = torch.empty(n).uniform_(area[0], area[1], generator=g) * h * w
    r = torch.exp(torch.empty(n).uniform_(math.log(0.3), math.log(3.3), generator=g))
    eh = (a * r).sqrt().clamp(1, h).long()
    ew = (a / r).sqrt().clamp(1, w).long()
    y0 = (torch.rand(n, generator=g) * (h - eh + 1).float()).long()
    x0 = (torch.rand(n, generator=g) * (w - ew + 1).float()).long()
    rows = torch.arange(h)[None, :]
    cols = torch.arange(w)[None, :]
    mrow = (rows >= y0[:, None]) & (rows < (y0 + eh)[:, None])
    mcol = (cols >= x0[:, None]) & (cols < (x0 + ew)[:, None])
    mask = (mrow[:, :, None] & mcol[:, None, :] & do[:, None, None]).to(x.device)
    return x.masked_fill(mask[:, None], 0.0)


def mix_batch(
    x: torch.Tensor, t: torch.Tensor, g: torch.Generator, mixup: float = 0.0, cutmix: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup (Zhang et al. 2018) or CutMix (Yun et al. 2019) on a batch with soft targets
    ``t`` (N, K). When both alphas are set, each batch uses one of them at random."""
    if mixup <= 0 and cutmix <= 0:
        return x, t
    use_cut = cutmix > 0 and (mixup <= 0 or bool(torch.rand(1, generator=g) < 0.5))
    alpha = cutmix if use_cut else mixup
    lam = _beta(alpha, g)
    perm = torch.randperm(x.shape[0], generator=g).to(x.device)
    if not use_cut:
        return lam * x + (1 - lam) * x[perm], lam * t + (1 - lam) * t[perm]
    h, w = x.shape[-2:]
    ch, cw = int(round(h * math.sqrt(1 - lam))), int(round(w * math.sqrt(1 - lam)))
    cy, cx = int(torch.randint(0, h, (1,), generator=g)), int(torch.randint(0, w, (1,), generator=g))
    y0, y1 = max(0, cy - ch // 2), min(h, cy + ch // 2)
    x0, x1 = max(0, cx - cw // 2), min(w, cx + cw // 2)
    out = x.clone()
    out[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
    lam = 1.0 - (y1 - y0) * (x1 - x0) / float(h * w)
    return out, lam * t + (1 - lam) * t[perm]


def _beta(alpha: float, g: torch.Generator) -> float:
    """Beta(alpha, alpha) = X / (X + Y) with X, Y ~ Gamma(alpha), drawn from the generator (torch's
    own Beta sampler ignores generators, which would break reproducible resumes)."""
    a, b = _gamma(alpha, g), _gamma(alpha, g)
    return a / (a + b)


def _gamma(a: float, g: torch.Generator) -> float:
    """Marsaglia-Tsang Gamma(a, 1) sampler (with the a < 1 boost)."""
    boost = 1.0
    if a < 1.0:
        boost = float(torch.rand(1, generator=g).clamp_min(1e-12)) ** (1.0 / a)
        a += 1.0
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        z = float(torch.randn(1, generator=g))
        v = (1.0 + c * z) ** 3
        if v <= 0:
            continue
        u = float(torch.rand(1, generator=g))
        if math.log(max(u, 1e-300)) < 0.5 * z * z + d - d * v + d * math.log(v):
            return d * v * boost


def random_five_crop(x: torch.Tensor, size: int, g: torch.Generator) -> torch.Tensor:
    """P5 training: one of the five crops (4 corners + centre) per sample, at random."""
    from ferapp.preprocess import five_crops

    crops = five_crops(x, size)  # (n, 5, c, s, s)
    pick = torch.randint(0, 5, (x.shape[0],), generator=g).to(x.device)
    return crops[torch.arange(x.shape[0], device=x.device), pick]


def apply_augment(x: torch.Tensor, ops, g: torch.Generator) -> torch.Tensor:
    for op in ops:
        if op == "mirror":
            x = mirror(x, g)
        elif op == "crop":
            x = random_crop(x, g)
        elif op == "rotate":
            x = random_rotate(x, g)
        elif op == "affine":
            x = random_affine(x, g)
        elif op == "photometric":
            x = photometric(x, g)
        elif op == "erase":
            x = random_erase(x, g)
        elif op:
            raise ValueError(f"unknown augmentation {op!r} (known: {', '.join(AUGMENTATIONS)})")
    return x

"""The papers' own training algorithms, as small testable pieces the Trainer composes.

- P3 HSIC bottleneck (Ma, Lewis & Kleijn 2019, as used by Han et al. 2023): each hidden unit
  Z_i minimises HSIC(Z_i, X) - beta * HSIC(Z_i, Y) with its own optimizer and no gradient
  between units; then the head is post-trained with cross-entropy + Adam on frozen features.
- P4 center loss (Wen et al. 2016): CE + lambda * 1/2 ||f - c_y||^2, centres updated by their
  own SGD optimizer.
- P5 BNN (Hubara/Courbariaux): squared hinge on +-1 targets; latent weights clipped to
  [-1, 1] after every step (the straight-through estimator lives in the model).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------- HSIC (P3)


def _flat(a: torch.Tensor) -> torch.Tensor:
    return a.reshape(a.shape[0], -1).float()


def pairwise_sq_dists(a: torch.Tensor) -> torch.Tensor:
    a = _flat(a)
    sq = (a * a).sum(1, keepdim=True)
    return (sq + sq.T - 2.0 * a @ a.T).clamp_min(0.0)


def median_sigma(d2: torch.Tensor) -> torch.Tensor:
    """Median heuristic: sigma = sqrt(median of the off-diagonal squared distances) (detached)."""
    m = d2.shape[0]
    off = d2.detach()[~torch.eye(m, dtype=torch.bool, device=d2.device)]
    med = off.median() if off.numel() else d2.new_tensor(1.0)
    return med.clamp_min(1e-6).sqrt()


def gaussian_kernel(a: torch.Tensor, sigma: float | None = None) -> torch.Tensor:
    """K_ij = exp(-||a_i - a_j||^2 / (2 sigma^2 d)), d = flattened feature size (the scaling of
    Ma et al.'s HSIC-bottleneck code, so one sigma fits layers of any width); sigma=None uses
    the median heuristic instead: K_ij = exp(-||a_i - a_j||^2 / (2 median^2))."""
    d2 = pairwise_sq_dists(a)
    if sigma is None:
        s = median_sigma(d2)
        return torch.exp(-d2 / (2.0 * s * s))
    d = a[0].numel()
    return torch.exp(-d2 / (2.0 * float(sigma) ** 2 * d))


def _centered(k: torch.Tensor) -> torch.Tensor:
    """H K H, H = I - 1/m (computed without forming H)."""
    return k - k.mean(0, keepdim=True) - k.mean(1, keepdim=True) + k.mean()


def hsic_from_kernels(ka: torch.Tensor, kb: torch.Tensor) -> torch.Tensor:
    """Biased empirical HSIC = (m-1)^-2 tr(K_A H K_B H), H = I - 1/m (computed without forming H)."""
    m = ka.shape[0]
    return (_centered(ka) * kb).sum() / float((m - 1) ** 2)  # tr(H K_A H K_B) = <H K_A H, K_B>


def nhsic_from_kernels(ka: torch.Tensor, kb: torch.Tensor, eps: float = 0.01) -> torch.Tensor:
    """Normalised HSIC of Ma et al.'s reference code (``hsic_normalized_cca``; Fukumizu's NOCCO):
    tr(R_A R_B), R = K_c (K_c + eps m I)^-1 with K_c = H K H.

    Scale-free and bounded by the smaller rank: with linear kernels it is the sum of the squared
    (regularised) canonical correlations, so it rewards every direction that carries the other
    variable instead of the single strongest one."""
    m = ka.shape[0]
    eye = torch.eye(m, dtype=ka.dtype, device=ka.device) * (eps * m)
    ca, cb = _centered(ka), _centered(kb)
    ra = torch.linalg.solve(ca + eye, ca)  # = K_c (K_c + eps m I)^-1: the two commute
    rb = torch.linalg.solve(cb + eye, cb)
    return (ra * rb.T).sum()


def linear_kernel(a: torch.Tensor) -> torch.Tensor:
    """K = A A^T / d on the flattened samples, each feature standardised over the batch (so the
    kernel does not grow with the unit's output scale)."""
    a = _flat(a)
    a = (a - a.mean(0, keepdim=True)) / (a.std(0, unbiased=False, keepdim=True) + 1e-5)
    return a @ a.T / a.shape[1]


def hsic(
    a: torch.Tensor, b: torch.Tensor, sigma_a: float | None = None, sigma_b: float | None = None
) -> torch.Tensor:
    """HSIC(A, B) with Gaussian kernels on the flattened samples of the batch (dim 0)."""
    return hsic_from_kernels(gaussian_kernel(a, sigma_a), gaussian_kernel(b, sigma_b))


HSIC_MEASURES = ("hsic", "nhsic")
HSIC_KERNELS = ("gaussian", "linear")


def hsic_bottleneck_loss(
    z: torch.Tensor,
    kx: torch.Tensor,
    ky: torch.Tensor,
    beta: float = 100.0,
    sigma: float | None = None,
    measure: str = "hsic",
    kernel: str = "gaussian",
    eps: float = 0.01,
) -> torch.Tensor:
    """One hidden unit's objective HSIC(Z, X) - beta * HSIC(Z, Y) given precomputed K_X, K_Y.

    ``measure`` "hsic" is the paper's biased estimator, "nhsic" the normalised one; ``kernel`` is
    the kernel on Z: "gaussian" (``sigma``, None = median heuristic) or "linear" (standardised)."""
    kz = gaussian_kernel(z, sigma) if kernel == "gaussian" else linear_kernel(z)
    if measure == "nhsic":
        return nhsic_from_kernels(kz, kx, eps) - beta * nhsic_from_kernels(kz, ky, eps)
    return hsic_from_kernels(kz, kx) - beta * hsic_from_kernels(kz, ky)


class HSICStep:
    """HSIC-bottleneck update: one optimizer per hidden unit; unit inputs are detached by the
    model's ``forward_hidden``, so unit i's loss reaches only unit i's parameters.

    The label kernel follows ``kernel``: Gaussian on the one-hot labels (the paper), or the one-hot
    Gram matrix Y Y^T with the linear kernel. The input kernel is always Gaussian (``sigma``)."""

    def __init__(
        self,
        model: nn.Module,
        make_opt,
        beta: float = 100.0,
        sigma: float | None = None,
        sigma_y: float | None = None,
        pool: int = 0,
        measure: str = "hsic",
        kernel: str = "gaussian",
        eps: float = 0.01,
    ):
        if measure not in HSIC_MEASURES or kernel not in HSIC_KERNELS:
            raise ValueError(f"HSIC measure must be one of {HSIC_MEASURES} and kernel one of {HSIC_KERNELS}")
        self.model, self.beta, self.sigma, self.sigma_y, self.pool = model, beta, sigma, sigma_y, int(pool)
        self.measure, self.kernel, self.eps = measure, kernel, float(eps)
        self.units = list(model.hidden_layers())
        self.optimizers = [make_opt(list(u.parameters())) for u in self.units]

    def label_kernel(self, y: torch.Tensor, num_classes: int) -> torch.Tensor:
        onehot = F.one_hot(y, num_classes).float()
        return gaussian_kernel(onehot, self.sigma_y) if self.kernel == "gaussian" else onehot @ onehot.T

    def step(self, x: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
        zs = self.model.forward_hidden(x)
        if len(zs) != len(self.optimizers):
            raise RuntimeError(
                f"forward_hidden gave {len(zs)} outputs for {len(self.optimizers)} hidden layers"
            )
        with torch.no_grad():
            kx = gaussian_kernel(x, self.sigma)
            ky = self.label_kernel(y, num_classes)
        total = x.new_zeros((), dtype=torch.float32)
        for z, opt in zip(zs, self.optimizers, strict=True):
            opt.zero_grad(set_to_none=True)
            if self.pool and z.ndim == 4 and z.shape[-1] > self.pool:
                z = F.adaptive_avg_pool2d(z, self.pool)
            loss = hsic_bottleneck_loss(z, kx, ky, self.beta, self.sigma, self.measure, self.kernel, self.eps)
            loss.backward()
            opt.step()
            total = total + loss.detach()
        return total / max(1, len(zs))

    def state_dict(self):
        return [o.state_dict() for o in self.optimizers]

    def load_state_dict(self, states):
        for o, s in zip(self.optimizers, states, strict=True):
            o.load_state_dict(s)


# ----------------------------------------------------------------------- center loss (P4)


class CenterLoss(nn.Module):
    """L_C = 1/2 * mean_i ||f_i - c_{y_i}||^2; the centres are a parameter with their own optimizer."""

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.centers = nn.Parameter(torch.zeros(num_classes, dim))

    def forward(self, feats: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        c = self.centers[y]
        return 0.5 * ((feats.float() - c) ** 2).sum(1).mean()


# ------------------------------------------------------------------------------ BNN (P5)


def squared_hinge_loss(outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """BNN loss: mean over samples and classes of max(0, 1 - t * o)^2 with t = +-1 one-hot targets."""
    t = F.one_hot(y, outputs.shape[1]).float() * 2.0 - 1.0
    return F.relu(1.0 - t * outputs.float()).pow(2).mean()


def clip_latent_weights(model: nn.Module) -> int:
    """Call every ``clip_latent_()`` in the model (each clamps its latent weights to [-1, 1]).

    Returns how many modules clipped; a model with none falls back to clamping the weights of
    modules flagged ``binary = True``."""
    n = 0
    if hasattr(model, "clip_latent_"):
        model.clip_latent_()
        return 1
    for m in model.modules():
        if m is not model and hasattr(m, "clip_latent_"):
            m.clip_latent_()
            n += 1
    if n == 0:
        with torch.no_grad():
            for m in model.modules():
                if getattr(m, "binary", False) and getattr(m, "weight", None) is not None:
                    m.weight.clamp_(-1.0, 1.0)
                    n += 1
    return n


def glorot_lr_scale(weight: torch.Tensor) -> float:
    """Courbariaux/Hubara's W_LR_scale for a binarized layer: 1 / sqrt(1.5 / (fan_in + fan_out))."""
    receptive = int(weight[0, 0].numel()) if weight.ndim > 2 else 1
    fan_in, fan_out = weight.shape[1] * receptive, weight.shape[0] * receptive
    return float(1.0 / math.sqrt(1.5 / (fan_in + fan_out)))


def bnn_param_groups(model: nn.Module, mode: str = "glorot") -> list[dict]:
    """Optimizer param groups for BNN training: each binarized layer's latent weight in its own
    group with ``lr_scale`` (``mode`` "glorot" or "none"), every other parameter at scale 1."""
    if mode not in ("glorot", "none"):
        raise ValueError(f"bnn_lr_scale must be 'glorot' or 'none', not {mode!r}")
    binary = [
        m
        for m in model.modules()
        if hasattr(m, "clip_latent_")
        and m is not model
        and isinstance(getattr(m, "weight", None), torch.Tensor)
    ]
    ids = {id(m.weight) for m in binary}
    groups = [
        {"params": [m.weight], "lr_scale": glorot_lr_scale(m.weight) if mode == "glorot" else 1.0}
        for m in binary
    ]
    rest = [p for p in model.parameters() if id(p) not in ids]
    if rest:
        groups.append({"params": rest, "lr_scale": 1.0})
    return groups


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against a target distribution (N, K): -mean_i sum_k t_ik log softmax(z_i)_k."""
    return -(target.float() * F.log_softmax(logits.float(), dim=1)).sum(1).mean()


def classification_loss(name: str, outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if name == "squared_hinge":
        return squared_hinge_loss(outputs, y)
    return F.cross_entropy(outputs.float(), y)

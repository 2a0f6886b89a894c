"""Training algorithms as strategies behind one small interface.

The ``Trainer`` owns the loop (data, epochs, validation, checkpoints, callbacks); a
``Strategy`` owns what differs between the papers' algorithms:

- ``optimizers``: the optimizers the lr schedule drives,
- ``phase(epoch)``: the name of an epoch's phase ("train"; P3: "hsic" then "post"),
- ``step(xb, yb, phase, scale)``: one batch's update, returning the detached loss (``scale``
  multiplies the loss that is backpropagated: a DDP rank's weight in the global batch),
- ``distribute(wrap)``: put the module the training forward runs through into DDP (HSIC's
  layer-local training is not distributed: ``ferapp.train.distributed.refusal``),
- ``begin_epoch`` / ``end_epoch``, ``validates(phase)`` / ``schedules(phase)``,
- ``state()`` / ``load_state()`` for what a checkpoint must carry beyond the optimizers.

Strategies: ``Backprop`` (cross-entropy, soft targets, squared hinge), ``CenterLossStrategy``
(P4: + lambda * center loss on ``forward_head(features, pre_logits=True)``), ``BNN`` (P5:
latent-weight lr scale and clipping), ``HSIC`` (P3: layer-local HSIC bottleneck, then the
head post-trained with cross-entropy). :func:`make_strategy` picks one from the config.
Models expose features through timm's ``forward_features`` / ``forward_head(pre_logits=True)``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from ferapp.train import algorithms as alg


def make_optimizer(name: str, params, lr: float, momentum: float, weight_decay: float):
    """``params``: tensors, or param-group dicts (a group's ``lr_scale`` multiplies the lr)."""
    params = list(params)
    if params and isinstance(params[0], dict):
        params = [
            {**g, "params": [p for p in g["params"] if p.requires_grad], "lr": lr * g.get("lr_scale", 1.0)}
            for g in params
        ]
        params = [g for g in params if g["params"]]
    else:
        params = [p for p in params if p.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r} (sgd, adam, adamw)")


class Strategy:
    name = "backprop"

    def __init__(self, trainer) -> None:
        self.tr = trainer
        self.model = trainer.model
        self.t = trainer.tcfg
        self.optimizers: list[torch.optim.Optimizer] = []
        self.net: nn.Module = self.model  # what the training forward calls (DDP-wrapped under torchrun)

    def _opt(self, params):
        t = self.t
        return make_optimizer(t.optimizer, params, t.lr, t.momentum, t.weight_decay)

    def phase(self, epoch: int) -> str:
        return "train"

    def validates(self, phase: str) -> bool:
        return True

    def schedules(self, phase: str) -> bool:
        return True

    def lr(self, phase: str) -> float:
        return float(self.tr.schedule.lr)

    def begin_epoch(self, phase: str) -> None:
        pass

    def end_epoch(self, phase: str) -> None:
        pass

    def step(self, xb: torch.Tensor, yb: torch.Tensor, phase: str, scale: float = 1.0) -> torch.Tensor:
        raise NotImplementedError

    def distribute(self, wrap) -> None:
        """``wrap(module) -> DDP(module)``: the training forward then synchronises gradients."""
        self.net = wrap(self.net)

    def state(self) -> dict[str, Any]:
        return {}

    def load_state(self, s: dict[str, Any]) -> None:
        pass


class Backprop(Strategy):
    """End-to-end gradient descent on one loss (AMP on CUDA, bf16 autocast on bf16 CPUs)."""

    def __init__(self, trainer) -> None:
        super().__init__(trainer)
        self.optimizers = [self._opt(self.param_groups())]

    def param_groups(self):
        return self.model.parameters()

    def loss(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        out = self.net(xb).float()
        if yb.dim() == 2:  # soft targets (N, K)
            return alg.soft_cross_entropy(out, yb)
        return alg.classification_loss(self.t.loss, out, yb)

    def extra_optimizers(self) -> list[torch.optim.Optimizer]:
        return []

    def after_step(self) -> None:
        pass

    def step(self, xb, yb, phase, scale=1.0):
        tr = self.tr
        opts = self.optimizers + self.extra_optimizers()
        for o in opts:
            o.zero_grad(set_to_none=True)
        if tr.cpu_bf16 and xb.dim() == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)  # the model was converted once in _setup
        with torch.autocast(
            tr.device.type, dtype=torch.bfloat16 if tr.cpu_bf16 else None, enabled=tr.use_amp or tr.cpu_bf16
        ):
            loss = self.loss(xb, yb)
        tr.scaler.scale(loss if scale == 1.0 else loss * scale).backward()
        for o in opts:
            tr.scaler.step(o)
        tr.scaler.update()
        self.after_step()
        return loss.detach().float()


class CenterLossStrategy(Backprop):
    """P4: cross-entropy + ``center_weight`` * center loss on the pre-logits embedding; the
    class centres (the loss module ``algorithms.CenterLoss``) have their own SGD (``center_lr``)."""

    name = "center"

    def __init__(self, trainer) -> None:
        super().__init__(trainer)
        dim = int(getattr(self.model, "num_features", 0) or 0)
        if not dim:
            raise ValueError(
                "loss 'ce+center' needs a model with num_features and forward_head(x, pre_logits=True)"
            )
        self.center = alg.CenterLoss(trainer.cfg.num_classes, dim).to(trainer.device)
        self.center_opt = torch.optim.SGD(self.center.parameters(), lr=self.t.center_lr)
        self.net = _CenterObjective(self.model, self.center, self.t.center_weight)

    def extra_optimizers(self):
        return [self.center_opt]

    def loss(self, xb, yb):
        return self.net(xb, yb)

    def state(self):
        return {"center": self.center.state_dict(), "center_opt": self.center_opt.state_dict()}

    def load_state(self, s):
        if "center" in s:
            self.center.load_state_dict(s["center"])
            self.center_opt.load_state_dict(s["center_opt"])


class _CenterObjective(nn.Module):
    """P4's loss as one module (network + class centres), so DDP synchronises both gradients."""

    def __init__(self, model: nn.Module, center: nn.Module, weight: float):
        super().__init__()
        self.model, self.center, self.weight = model, center, weight

    def forward(self, xb, yb):
        m = self.model
        f = m.forward_features(xb)
        emb, logits = m.forward_head(f, pre_logits=True), m.forward_head(f)
        return alg.classification_loss("ce", logits.float(), yb) + self.weight * self.center(
            emb.reshape(emb.shape[0], -1).float(), yb
        )


class BNN(Backprop):
    """P5: binarized layers' latent weights in their own param groups (Glorot lr scale) and
    clipped to [-1, 1] after every step."""

    name = "bnn"

    def param_groups(self):
        return alg.bnn_param_groups(self.model, self.t.bnn_lr_scale)

    def after_step(self):
        alg.clip_latent_weights(self.model)


class HSIC(Strategy):
    """P3: ``hsic_epochs`` of layer-local HSIC-bottleneck training (one optimizer per hidden
    unit, no gradient between units), then the head post-trained with cross-entropy + Adam
    on the frozen features. No validation during the HSIC phase (the head is untrained)."""

    name = "hsic"
    NEEDS = ("hidden_layers", "forward_hidden", "head_parameters")

    def __init__(self, trainer) -> None:
        super().__init__(trainer)
        missing = [n for n in self.NEEDS if not callable(getattr(self.model, n, None))]
        if missing:
            raise ValueError(
                f"algorithm 'hsic' needs a model with {', '.join(n + '()' for n in missing)} "
                "(e.g. hsic_densenet)"
            )
        t = self.t
        self.hsic = alg.HSICStep(
            self.model,
            self._opt,
            beta=t.hsic_beta,
            sigma=t.hsic_sigma,
            pool=t.hsic_pool,
            measure=t.hsic_measure,
            kernel=t.hsic_kernel,
            eps=t.hsic_eps,
        )
        self.optimizers = list(self.hsic.optimizers)
        self.head_params = list(self.model.head_parameters())
        self.post_opt = torch.optim.Adam(self.head_params, lr=t.post_lr)
        self.hsic_epochs = (
            t.hsic_epochs if t.hsic_epochs is not None else max(1, t.epochs - max(1, t.epochs // 3))
        )

    def phase(self, epoch):
        return "hsic" if epoch < self.hsic_epochs else "post"

    def validates(self, phase):
        return phase != "hsic"

    def schedules(self, phase):
        return phase != "post"

    def lr(self, phase):
        return float(self.post_opt.param_groups[0]["lr"]) if phase == "post" else float(self.tr.schedule.lr)

    def begin_epoch(self, phase):
        if phase == "post":
            head = {id(p) for p in self.head_params}
            for p in self.model.parameters():
                p.requires_grad_(id(p) in head)
            for u in self.model.hidden_layers():
                u.eval()

    def end_epoch(self, phase):
        if phase == "post":
            for p in self.model.parameters():
                p.requires_grad_(True)

    def step(self, xb, yb, phase, scale=1.0):  # never sharded (see make_strategy's caller)
        if phase == "hsic":
            return self.hsic.step(xb, yb, self.tr.cfg.num_classes)
        self.post_opt.zero_grad(set_to_none=True)
        loss = alg.classification_loss("ce", self.model(xb), yb)
        loss.backward()
        self.post_opt.step()
        return loss.detach()

    def state(self):
        return {"post_opt": self.post_opt.state_dict()}

    def load_state(self, s):
        if "post_opt" in s:
            self.post_opt.load_state_dict(s["post_opt"])


def make_strategy(trainer) -> Strategy:
    t = trainer.tcfg
    if t.algorithm == "hsic":
        return HSIC(trainer)
    if t.algorithm == "bnn":
        if t.loss == "ce+center":
            raise ValueError("loss 'ce+center' is not combined with algorithm 'bnn'")
        return BNN(trainer)
    if t.loss == "ce+center":
        return CenterLossStrategy(trainer)
    return Backprop(trainer)


__all__ = ["BNN", "Backprop", "CenterLossStrategy", "HSIC", "Strategy", "make_optimizer", "make_strategy"]

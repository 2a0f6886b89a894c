"""The papers' algorithms (HSIC bottleneck, BNN, center loss), evaluation metrics and reports."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ferapp.train import TrainConfig, Trainer
from ferapp.train.algorithms import CenterLoss, hsic, squared_hinge_loss
from ferapp.train.evaluate import (
    aggregate,
    evaluate,
    metrics_from_confusion,
    predict_probs,
    write_eval_artifacts,
)
from tests._train_helpers import TinyBNN, make_tiny, recipe_of, synthetic_faces, tiny_cfg

torch.set_num_threads(1)


# ------------------------------------------------------------------ HSIC estimator properties
def test_hsic_dependence_and_permutation_invariance():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 5, generator=g)
    noise = torch.randn(64, 5, generator=g)
    h_xx = hsic(x, x)
    h_xn = hsic(x, noise)
    assert h_xx > 5 * h_xn > 0
    # a noisy function of x is more dependent than independent noise
    assert hsic(x, torch.tanh(x) + 0.1 * noise) > h_xn
    perm = torch.randperm(64, generator=g)
    assert torch.allclose(hsic(x[perm], noise[perm]), h_xn, atol=1e-6)
    assert torch.allclose(hsic(x, noise), hsic(noise, x), atol=1e-6)  # symmetric
    # fixed-sigma kernel also works and is bounded by HSIC(X,X)
    assert hsic(x, x, 1.0, 1.0) >= hsic(x, noise, 1.0, 1.0)


def _fer_like_labels(g):
    """128 labels with FER2013's class imbalance (happy the largest class)."""
    counts = [18, 2, 18, 32, 22, 14, 22]
    y = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    return y[torch.randperm(len(y), generator=g)]


def test_nhsic_with_linear_kernel_rewards_every_class_not_the_largest():
    """The collapse the shipped P3 recipe avoids: under the paper's Gaussian kernel with the median
    heuristic a feature that only separates the largest class ("happy vs rest") scores higher than
    one that separates all seven; normalised HSIC with the linear kernel ranks them the right way."""
    import torch.nn.functional as F

    from ferapp.train.algorithms import gaussian_kernel, hsic_from_kernels, linear_kernel, nhsic_from_kernels

    g = torch.Generator().manual_seed(0)
    y = _fer_like_labels(g)
    onehot = F.one_hot(y, 7).float()
    all_classes = onehot + 0.3 * torch.randn(onehot.shape, generator=g)
    happy_only = (y == 3).float()[:, None] + 0.05 * torch.randn(len(y), 1, generator=g)
    ky_gauss, ky_lin = gaussian_kernel(onehot), onehot @ onehot.T
    gauss = {
        n: float(hsic_from_kernels(gaussian_kernel(z), ky_gauss))
        for n, z in (("all", all_classes), ("happy", happy_only))
    }
    assert gauss["happy"] > gauss["all"]
    norm = {
        n: float(nhsic_from_kernels(linear_kernel(z), ky_lin))
        for n, z in (("all", all_classes), ("happy", happy_only))
    }
    assert norm["all"] > 2 * norm["happy"]
    assert norm["all"] <= 6.0 + 1e-4  # bounded by the rank of the centred label kernel (7 classes - 1)
    # scale-free: the unit's output scale does not change its score
    assert nhsic_from_kernels(linear_kernel(all_classes * 40 + 3), ky_lin) == pytest.approx(
        norm["all"], rel=1e-4
    )


def test_hsic_step_measure_and_kernel_options():
    from ferapp.train.algorithms import HSICStep

    torch.manual_seed(0)
    x, y = torch.randn(16, 1, 16, 16), torch.arange(16) % 3
    model = make_tiny()
    before = [p.clone() for p in model.parameters()]
    step = HSICStep(model, lambda ps: torch.optim.Adam(ps, lr=0.01), pool=1, measure="nhsic", kernel="linear")
    loss = float(step.step(x, y, 3))
    assert np.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    with pytest.raises(ValueError):
        HSICStep(model, lambda ps: torch.optim.Adam(ps), measure="cka")


def _train_algo(model, epochs, train, val=None, **over):
    tc = TrainConfig.from_recipe(recipe_of(model), epochs=epochs, num_threads=1, **over)
    tr = Trainer(model, model.cfg, tc)
    res = tr.fit(train, val)
    assert res.outcome == "finished", res.message + res.traceback
    return res, tr


def test_hsic_bottleneck_layerwise_then_post_training():
    ds = synthetic_faces(n_per_class=12)
    model = make_tiny(algorithm="hsic", optimizer="adam", lr=0.01, batch_size=12)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res, tr = _train_algo(model, 10, ds, ds, hsic_epochs=6, post_lr=0.05, hsic_sigma=5.0)
    phases = [h.get("phase") for h in res.history]
    assert phases == ["hsic"] * 6 + ["post"] * 4
    hs = [h["train_loss"] for h in res.history[:6]]
    assert hs[-1] < hs[0] - 0.1 and hs[-1] < hs[-2]  # HSIC(Z,X) - beta HSIC(Z,Y) falls
    post = [h["train_loss"] for h in res.history[6:]]
    assert post[-1] < post[0]  # head CE falls on frozen features
    assert res.history[-1]["val_acc"] >= 0.9
    assert all("val_acc" not in h for h in res.history[:6]) and res.best_epoch >= 6
    # HSIC phase touched hidden units; one optimizer per hidden unit
    assert len(tr.optimizers) == len(model.hidden_layers()) == 2
    assert not torch.equal(before["conv.weight"], model.state_dict()["conv.weight"])


def test_hsic_pool_scores_the_pooled_map():
    """hsic_pool=k: a conv unit's HSIC terms see its output average-pooled to k x k."""
    import torch.nn.functional as F

    from ferapp.train.algorithms import HSICStep, gaussian_kernel, hsic_bottleneck_loss

    torch.manual_seed(0)
    x, y = torch.randn(16, 1, 16, 16), torch.arange(16) % 3
    losses = {}
    for pool in (0, 2):
        model = make_tiny()
        step = HSICStep(model, lambda ps: torch.optim.SGD(ps, lr=0.0), beta=100.0, sigma=5.0, pool=pool)
        losses[pool] = float(step.step(x, y, 3))
    z1, z2 = (z.detach() for z in model.forward_hidden(x))
    kx, ky = gaussian_kernel(x, 5.0), gaussian_kernel(F.one_hot(y, 3).float())
    want = [
        hsic_bottleneck_loss(F.adaptive_avg_pool2d(z, 2) if z.ndim == 4 else z, kx, ky, 100.0, 5.0)
        for z in (z1, z2)
    ]
    assert losses[2] == pytest.approx(float(sum(want) / 2), rel=1e-4)
    assert losses[2] != pytest.approx(losses[0], rel=1e-3)


def test_hsic_units_get_no_gradient_from_other_units():
    model = make_tiny()
    x = torch.randn(8, 1, 16, 16)
    z1, z2 = model.forward_hidden(x)
    z2.sum().backward()
    assert model.conv.weight.grad is None  # unit 2's objective does not reach unit 1


def test_post_training_freezes_hidden_units():
    ds = synthetic_faces(n_per_class=8)
    model = make_tiny(algorithm="hsic", optimizer="adam", lr=0.01)
    _, tr = _train_algo(model, 1, ds, hsic_epochs=1)
    frozen = model.conv2.weight.detach().clone()
    tc = TrainConfig.from_recipe(recipe_of(model), epochs=2, hsic_epochs=0, num_threads=1)
    res = Trainer(model, model.cfg, tc).fit(ds)
    assert res.outcome == "finished"
    assert torch.equal(frozen, model.conv2.weight)
    assert all(p.requires_grad for p in model.parameters())  # restored after post-training


def test_bnn_squared_hinge_clipping_and_five_crop():
    ds = synthetic_faces(n_per_class=12, size=16)
    torch.manual_seed(0)
    model = TinyBNN(in_features=12 * 12)
    model.cfg, model.recipe = tiny_cfg(
        five_crop=12, algorithm="bnn", optimizer="adam", lr=0.01, batch_size=12
    )
    res, tr = _train_algo(model, 8, ds, ds)
    assert tr.tcfg.loss == "squared_hinge"  # BNN implies the BNN loss
    assert model.clip_calls == res.global_step
    assert model.w1.abs().max() <= 1.0 and model.w2.abs().max() <= 1.0
    losses = [h["train_loss"] for h in res.history]
    assert losses[-1] < 0.8 * losses[0]
    assert res.history[-1]["val_acc"] > 0.6


def test_bnn_five_crop_all_mode_trains_on_every_crop():
    ds = synthetic_faces(n_per_class=4, size=16)
    torch.manual_seed(0)
    model = TinyBNN(in_features=12 * 12)
    model.cfg, model.recipe = tiny_cfg(five_crop=12, algorithm="bnn", optimizer="adam", lr=0.01, batch_size=6)
    seen = []
    model.register_forward_pre_hook(lambda m, a: seen.append(tuple(a[0].shape)))
    res, _ = _train_algo(model, 1, ds, five_crop="all")
    assert res.global_step == 2 and seen[0] == (30, 1, 12, 12)  # 6 faces x 5 crops


def test_squared_hinge_values():
    out = torch.tensor([[1.0, -1.0, -1.0], [0.0, 0.0, 0.0]])
    y = torch.tensor([0, 2])
    assert squared_hinge_loss(out[:1], y[:1]).item() == pytest.approx(0.0)
    assert squared_hinge_loss(out[1:], y[1:]).item() == pytest.approx(1.0)


def test_center_loss_path_falls_and_centres_move():
    ds = synthetic_faces(n_per_class=12)
    model = make_tiny(loss="ce+center", batch_size=12)
    res, tr = _train_algo(model, 8, ds, ds, center_weight=0.1, center_lr=0.5)
    from ferapp.train.strategies import CenterLossStrategy

    assert isinstance(tr.strategy, CenterLossStrategy)
    assert tr.strategy.center.centers.abs().sum() > 0  # centres started at zero and were updated
    losses = [h["train_loss"] for h in res.history]
    assert losses[-1] < 0.7 * losses[0]
    c = CenterLoss(2, 3)
    c.centers.data = torch.tensor([[0.0, 0, 0], [1.0, 1, 1]])
    assert c(torch.tensor([[1.0, 0, 0], [1.0, 1, 1]]), torch.tensor([0, 1])).item() == pytest.approx(0.25)


def test_center_loss_on_p4_uses_one_pass():
    from ferapp.zoo import create_model

    m = create_model("dsc_se_resnet", width_mult=0.125)
    ds = synthetic_faces(n_per_class=4, classes=7, size=48)
    tc = TrainConfig.from_recipe(recipe_of(m), epochs=1, batch_size=14, num_threads=1, augment=())
    tr = Trainer(m, m.cfg, tc)
    calls = []
    real = m.forward_features
    m.forward_features = lambda x: calls.append(1) or real(x)
    res = tr.fit(ds)
    assert res.outcome == "finished", res.message
    assert len(calls) == 2  # 28 faces / 14 = 2 batches: one feature pass each gives embedding and logits


# ------------------------------------------------------------------ evaluation
def test_metrics_on_hand_made_confusion():
    cm = np.array([[5, 1, 0], [2, 2, 0], [0, 0, 0]])
    r = metrics_from_confusion(cm, ("a", "b", "c"))
    assert r.n == 10 and r.accuracy == pytest.approx(0.7)
    assert r.per_class_accuracy == {"a": pytest.approx(5 / 6), "b": pytest.approx(0.5), "c": None}
    f1a = 2 * (5 / 7) * (5 / 6) / (5 / 7 + 5 / 6)
    f1b = 2 * (2 / 3) * (2 / 4) / (2 / 3 + 2 / 4)
    assert r.macro_f1 == pytest.approx((f1a + f1b) / 2)
    agg = aggregate([r, metrics_from_confusion(np.eye(3, dtype=int) * 2, ("a", "b", "c"))])
    assert agg["mean_accuracy"] == pytest.approx(0.85)
    assert agg["std_accuracy"] == pytest.approx(np.std([0.7, 1.0], ddof=1))
    assert np.array(agg["pooled"]["confusion"]).sum() == 16


def test_evaluate_five_crop_voting_and_artifacts(tmp_path):
    ds = synthetic_faces(n_per_class=4)
    model = make_tiny()
    model.cfg, model.recipe = tiny_cfg(five_crop=12)
    model.eval()
    out = predict_probs(model, model.cfg, ds.images)
    from ferapp.preprocess import five_crops, preprocess_face

    x = torch.from_numpy(np.stack([preprocess_face(im, model.cfg) for im in ds.images]))
    with torch.no_grad():
        manual = torch.softmax(torch.stack([model(c) for c in five_crops(x, 12).unbind(1)], 1).mean(1), 1)
    assert np.allclose(out, manual.numpy(), atol=1e-5)
    r = evaluate(model, model.cfg, ds)
    assert r.n == len(ds) and r.confusion.sum() == len(ds)
    assert r.accuracy == pytest.approx(float((out.argmax(1) == ds.labels).mean()))
    paths = write_eval_artifacts(r, tmp_path, stem="test", title="tiny")
    png = open(paths["png"], "rb").read(8)
    assert png.startswith(b"\x89PNG")
    rep = json.loads(open(paths["json"]).read())
    assert rep["result"]["n"] == len(ds) and len(rep["result"]["confusion"]) == 3
    assert open(paths["csv"]).readline().startswith("true\\pred,angry")


def test_bnn_latent_weights_get_glorot_lr_scale():
    """Courbariaux/Hubara's W_LR_scale: each binarized layer's latent weight is stepped with
    lr / sqrt(1.5 / (fan_in + fan_out)); BN and the real-valued classifier keep the plain lr."""
    from ferapp.train.algorithms import bnn_param_groups, glorot_lr_scale
    from ferapp.zoo.models.p5_bdnn import BinaryConv2d, BinaryLinear
    from ferapp.zoo.registry import create_model

    torch.manual_seed(0)
    model = create_model("bdnn2", width_mult=0.125)
    conv = model.blocks[1].conv2.conv  # 16 -> 16 channels, 3x3
    assert glorot_lr_scale(conv.weight) == pytest.approx(1 / np.sqrt(1.5 / (16 * 9 + 16 * 9)))
    groups = bnn_param_groups(model)
    binary = [m for m in model.modules() if isinstance(m, (BinaryConv2d, BinaryLinear))]
    assert len(groups) == len(binary) + 1 and groups[-1]["lr_scale"] == 1.0
    assert all(g["lr_scale"] > 3 for g in groups[:-1])
    assert all(s == 1.0 for s in (g["lr_scale"] for g in bnn_param_groups(model, "none")))
    with pytest.raises(ValueError):
        bnn_param_groups(model, "huge")
    tc = TrainConfig.from_recipe(recipe_of(model), epochs=1, lr=1e-3, schedule="constant", num_threads=1)
    tr = Trainer(model, model.cfg, tc, [])
    before = conv.weight.detach().clone()
    res = tr.fit(synthetic_faces(n_per_class=8, size=48))
    assert res.outcome == "finished", res.message
    # one epoch of Adam moves a latent weight by ~its group's lr per step: enough to flip
    # weights near 0 (with the plain 1e-3 it could move at most 1e-3 per step)
    assert (conv.weight.detach() - before).abs().max().item() > 5 * 1e-3 * res.global_step
    opt = tr.optimizers[0]
    lrs = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert lrs[id(conv.weight)] == pytest.approx(1e-3 * glorot_lr_scale(conv.weight))
    assert lrs[id(model.classifier.weight)] == pytest.approx(1e-3)
    tr.schedule._set(5e-4)  # schedules keep each group's multiplier
    lrs = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert lrs[id(conv.weight)] == pytest.approx(5e-4 * glorot_lr_scale(conv.weight))

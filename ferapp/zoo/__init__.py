"""Model zoo: the papers' networks in one registry (one module per paper in ``ferapp.zoo.models``)."""

from ferapp.zoo.registry import (
    ModelCfg,
    Paper,
    Recipe,
    WeightSidecar,
    create_model,
    get_model_cfg,
    get_paper,
    get_recipe,
    list_models,
    list_papers,
    quick_bench_models,
    register_model,
    unregister_model,
    weight_sidecar,
)

__all__ = [
    "ModelCfg",
    "Paper",
    "Recipe",
    "WeightSidecar",
    "create_model",
    "get_model_cfg",
    "get_paper",
    "get_recipe",
    "list_models",
    "list_papers",
    "quick_bench_models",
    "register_model",
    "unregister_model",
    "weight_sidecar",
]

"""Model zoo: the five papers' networks in one registry."""

from ferapp.zoo.registry import ModelCfg, Recipe, create_model, get_model_cfg, list_models, register_model

__all__ = ["ModelCfg", "Recipe", "create_model", "get_model_cfg", "list_models", "register_model"]

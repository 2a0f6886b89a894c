"""Errors the zoo raises for unusable files (a clear message, nothing executed)."""


class CheckpointError(RuntimeError):
    """A checkpoint / model folder / packed file that cannot be loaded safely or does not fit."""

"""Packages, with the top-level models/ and resources/ folders mapped into the wheel as
ferapp/_models and ferapp/_resources (pyproject.toml holds everything else)."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["ferapp", "ferapp.*"]) + ["ferapp._models", "ferapp._resources"],
    package_dir={"ferapp._models": "models", "ferapp._resources": "resources"},
)

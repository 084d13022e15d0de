"""Shared fixtures: the small agent world (see world.py) and its saved classifier bundle."""

from __future__ import annotations

from pathlib import Path

import pytest
from world import World, build_world, save_world_model


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="session")
def model_dir(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_world_model(world, tmp_path_factory.mktemp("model"))

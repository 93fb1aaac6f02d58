"""Name -> environment factory registry: ``make_env("math", difficulty=2)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mrlm_hf.envs.base import TextEnv

_REGISTRY: dict[str, Callable[..., TextEnv]] = {}


def register_env(name: str, factory: Callable[..., TextEnv], *, overwrite: bool = False) -> None:
    """Register ``factory`` (a class or function returning a ``TextEnv``) under ``name``."""
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"An environment named {name!r} is already registered; pass overwrite=True to replace it.")
    _REGISTRY[name] = factory


def make_env(name: str, **kwargs: Any) -> TextEnv:
    """Build the environment registered as ``name`` with ``kwargs``."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise KeyError(f"Unknown environment {name!r}. Registered environments: {', '.join(list_envs())}.") from None
    return factory(**kwargs)


def list_envs() -> list[str]:
    """Names of all registered environments, sorted."""
    return sorted(_REGISTRY)

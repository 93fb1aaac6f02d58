"""Text environments with a gymnasium-like API, each with a scripted expert.

Importing this package registers the built-in environments: ``math``, ``code``, ``debate``, ``tools`` and
``gridworld``. ``make_env(name, **kwargs)`` builds one; ``register_env`` adds your own.
"""

from mrlm_hf.envs.base import MAX_ACTION_CHARS, TextEnv, coerce_action
from mrlm_hf.envs.registry import list_envs, make_env, register_env

# Built-in environments register themselves on import.
from mrlm_hf.envs import math as _math  # noqa: E402,F401  isort: skip
from mrlm_hf.envs import code as _code  # noqa: E402,F401  isort: skip
from mrlm_hf.envs import debate as _debate  # noqa: E402,F401  isort: skip
from mrlm_hf.envs import tools as _tools  # noqa: E402,F401  isort: skip
from mrlm_hf.envs import gridworld as _gridworld  # noqa: E402,F401  isort: skip

__all__ = ["MAX_ACTION_CHARS", "TextEnv", "coerce_action", "list_envs", "make_env", "register_env"]

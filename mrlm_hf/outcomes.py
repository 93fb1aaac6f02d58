"""Reading outcomes from observation text: what a learned simulator and a planner need to score predictions.

A world model predicts observations, not rewards. ``OUTCOME_RULES`` maps an environment name to a function
``rule(observation, env_config) -> Outcome`` that reads reward, termination and success from an observation the
way the environment would have produced them. Environments without an entry get ``default_outcome``: reward 0,
never terminated (an episode in the simulator then ends only at ``max_turns``).

Gridworld's rule (``gridworld_outcome``) reads the status line, the last line of the observation: ``Reached the
goal!`` is reward +1, terminated, success; ``Already at the goal.`` is reward 0, terminated, success; anything else
(a move, a wall, an invalid action, or text that is not a gridworld observation at all) costs ``step_cost`` and does
not terminate. ``parse_grid_observation`` turns a gridworld observation back into a ``GridState`` (the observation
encodes the whole state), which planners use to measure the distance to the goal in a predicted grid.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from mrlm_hf.envs.gridworld import GridState, shortest_path


class Outcome(NamedTuple):
    """Reward, termination and success read from an observation."""

    reward: float
    terminated: bool
    success: bool


def default_outcome(observation: str, env_config: dict[str, Any]) -> Outcome:
    """No parser for this environment: reward 0, never terminated (episodes end at ``max_turns``)."""
    return Outcome(0.0, False, False)


_POSITION = re.compile(r"At \((\d+),(\d+)\)\.")


def parse_grid_observation(observation: str) -> GridState | None:
    """The ``GridState`` a gridworld observation shows, or ``None`` if the text is not a well-formed one.

    Well formed: a square grid of ``.#@GkD`` with exactly one ``@``, at most one each of ``G``, ``k`` and ``D``,
    then a status line whose ``At (r,c).`` matches the ``@``. The goal is hidden under ``@`` once reached; then
    the agent's cell is the goal. A grid without ``G`` whose status does not say the goal is reached is refused."""
    lines = observation.strip().split("\n")
    if len(lines) < 2:
        return None
    grid, status = lines[:-1], lines[-1]
    size = len(grid)
    if size < 1 or any(len(row) != size or set(row) - set(".#@GkD") for row in grid):
        return None
    cells: dict[str, list[tuple[int, int]]] = {}
    for r, row in enumerate(grid):
        for c, char in enumerate(row):
            cells.setdefault(char, []).append((r, c))
    if len(cells.get("@", ())) != 1 or any(len(cells.get(ch, ())) > 1 for ch in "GkD"):
        return None
    agent = cells["@"][0]
    position = _POSITION.search(status)
    if position is None or (int(position.group(1)), int(position.group(2))) != agent:
        return None
    reached = "Reached the goal!" in status or "Already at the goal." in status
    if "G" in cells:
        goal = cells["G"][0]
    elif reached:
        goal = agent
    else:
        return None
    return GridState(
        size=size,
        agent=agent,
        goal=goal,
        walls=frozenset(cells.get("#", ())),
        key=cells["k"][0] if "k" in cells else None,
        door=cells["D"][0] if "D" in cells else None,
        has_key="Have key." in status,
    )


def gridworld_outcome(observation: str, env_config: dict[str, Any]) -> Outcome:
    """Gridworld's reward and termination from the status line (rule in the module docstring)."""
    status = observation.strip().split("\n")[-1]
    if "Reached the goal!" in status:
        return Outcome(1.0, True, True)
    if "Already at the goal." in status:
        return Outcome(0.0, True, True)
    return Outcome(-float(env_config.get("step_cost", 0.01)), False, False)


def gridworld_distance(observation: str) -> float | None:
    """Moves from the shown state to the goal (BFS through keys and doors), or ``None`` if unreachable or unreadable."""
    state = parse_grid_observation(observation)
    if state is None:
        return None
    path = shortest_path(state)
    return None if path is None else float(len(path))


OUTCOME_RULES: dict[str, Callable[[str, dict[str, Any]], Outcome]] = {"gridworld": gridworld_outcome}


def outcome_rule(env_name: str) -> Callable[[str, dict[str, Any]], Outcome]:
    """The outcome rule of ``env_name`` (``default_outcome`` when none is registered)."""
    return OUTCOME_RULES.get(env_name, default_outcome)

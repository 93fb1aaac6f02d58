"""Grid world: a deterministic maze whose next observation is an exact function of the state and the action.

Made for world models: a learned model of the environment can be scored by exact match of its predicted next
observation, because nothing random happens after ``reset`` (the layout comes from the seed).

Observation (5x5 example)::

    .#..G
    ..#..
    @....
    .#...
    .....
    Moved down. At (2,0).

Rows top to bottom, ``@`` the agent, ``G`` the goal, ``#`` walls, ``.`` floor; with ``difficulty=3`` also ``k``
a key and ``D`` a door that opens (and disappears) when the agent walks into it holding the key. The status line
says what happened (``Moved up.``, ``You hit a wall.``, ``The door is locked.``, ``Picked up the key.``,
``Reached the goal!``, ``Invalid action...``), then the position ``At (row,col).`` (0-based, row 0 at the top) and
``Have key.`` once the key is held. The grid edge behaves like a wall. The observation therefore encodes the
whole state: it is Markov, and equal states give equal text.

Actions: ``up``, ``down``, ``left``, ``right`` (case-insensitive, surrounding whitespace and a trailing period
allowed, ``move up`` / ``go up`` accepted). Anything else leaves the grid unchanged with an ``Invalid action``
status.

Reward: +1.0 on the move that reaches the goal (terminated, success); every other action, a bump into a wall or an
invalid one included, costs ``step_cost`` (0.01). ``max_turns`` defaults to ``2 * size * size``.

Difficulty: 0 an empty grid, 1 about 15% walls, 2 about 25% walls, 3 a wall across the grid whose only gap is a
locked door, the key on the agent's side and the goal on the other, plus about 10% walls. Every layout is checked
solvable by breadth-first search. The expert follows a BFS shortest path (100% success).

Querying the true dynamics (for planners and world-model evaluation): the pure function ``transition(state,
action)`` (also ``GridWorldEnv.transition``) returns the next state, observation, reward and termination for any
``GridState`` without touching an environment; ``env.get_state()`` returns the current state as a JSON-able dict
and ``env.set_state(d)`` restores one (the turn counter is left as it is);
``env.reset(options={"state": d})`` starts an episode from a given state.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from mrlm_hf.envs.base import TextEnv
from mrlm_hf.envs.registry import register_env

ACTIONS = ("up", "down", "left", "right")
DELTAS = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
WALL_DENSITY = {0: 0.0, 1: 0.15, 2: 0.25, 3: 0.1}
INVALID_MESSAGE = "Invalid action. Use up, down, left or right."
_MOVE_RE = re.compile(r"^(?:(?:move|go)\s+)?(up|down|left|right)\s*\.?$")

Cell = tuple[int, int]


@dataclass(frozen=True)
class GridState:
    """Everything that determines the next observation. ``key``/``door`` are ``None`` when absent, picked up or
    opened."""

    size: int
    agent: Cell
    goal: Cell
    walls: frozenset[Cell] = frozenset()
    key: Cell | None = None
    door: Cell | None = None
    has_key: bool = False

    @property
    def solved(self) -> bool:
        return self.agent == self.goal

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (``from_dict`` inverts it)."""
        return {
            "size": self.size,
            "agent": list(self.agent),
            "goal": list(self.goal),
            "walls": sorted(list(w) for w in self.walls),
            "key": list(self.key) if self.key else None,
            "door": list(self.door) if self.door else None,
            "has_key": self.has_key,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GridState:
        def cell(value: Any) -> Cell | None:
            return None if value is None else (int(value[0]), int(value[1]))

        return cls(
            size=int(data["size"]),
            agent=cell(data["agent"]),
            goal=cell(data["goal"]),
            walls=frozenset(cell(w) for w in data.get("walls", ())),
            key=cell(data.get("key")),
            door=cell(data.get("door")),
            has_key=bool(data.get("has_key", False)),
        )


class Transition(NamedTuple):
    """The result of ``transition``: what the environment's ``step`` would return for that state and action."""

    state: GridState
    observation: str
    reward: float
    terminated: bool
    event: str  # moved | wall | door_locked | door_opened | key | goal | invalid | done
    move: str | None


def parse_move(action: str) -> str | None:
    """``"up"``/``"down"``/``"left"``/``"right"`` from an action, or ``None`` if it is not a valid move."""
    if not isinstance(action, str) or len(action) > 64:
        return None
    match = _MOVE_RE.match(action.strip().lower())
    return match.group(1) if match else None


def render_grid(state: GridState) -> str:
    """The grid as text rows (no status line)."""
    rows = [["."] * state.size for _ in range(state.size)]
    for r, c in state.walls:
        rows[r][c] = "#"
    rows[state.goal[0]][state.goal[1]] = "G"
    if state.key:
        rows[state.key[0]][state.key[1]] = "k"
    if state.door:
        rows[state.door[0]][state.door[1]] = "D"
    rows[state.agent[0]][state.agent[1]] = "@"
    return "\n".join("".join(row) for row in rows)


def render_observation(state: GridState, message: str) -> str:
    """Grid plus the status line: ``message``, the position and whether the key is held."""
    status = f"{message} At ({state.agent[0]},{state.agent[1]})."
    if state.has_key:
        status += " Have key."
    return f"{render_grid(state)}\n{status}"


def _advance(state: GridState, move: str) -> tuple[GridState, str]:
    """The next state and the event name for a valid move (no rendering; used by search)."""
    if state.solved:
        return state, "done"
    dr, dc = DELTAS[move]
    target = (state.agent[0] + dr, state.agent[1] + dc)
    if not (0 <= target[0] < state.size and 0 <= target[1] < state.size) or target in state.walls:
        return state, "wall"
    if target == state.door:
        if not state.has_key:
            return state, "door_locked"
        return replace(state, agent=target, door=None), "door_opened"
    if target == state.key:
        return replace(state, agent=target, key=None, has_key=True), "key"
    if target == state.goal:
        return replace(state, agent=target), "goal"
    return replace(state, agent=target), "moved"


_MESSAGES = {
    "moved": "Moved {move}.",
    "wall": "You hit a wall.",
    "door_locked": "The door is locked.",
    "door_opened": "Moved {move}. Opened the door.",
    "key": "Moved {move}. Picked up the key.",
    "goal": "Moved {move}. Reached the goal!",
    "done": "Already at the goal.",
}


def transition(state: GridState, action: str, step_cost: float = 0.01) -> Transition:
    """The true dynamics: a pure function of ``(state, action)``; the same inputs always give the same output."""
    move = parse_move(action)
    if move is None:
        if state.solved:
            return Transition(state, render_observation(state, _MESSAGES["done"]), 0.0, True, "done", None)
        return Transition(state, render_observation(state, INVALID_MESSAGE), -step_cost, False, "invalid", None)
    next_state, event = _advance(state, move)
    observation = render_observation(next_state, _MESSAGES[event].format(move=move))
    if event in ("goal", "done"):
        return Transition(next_state, observation, 1.0 if event == "goal" else 0.0, True, event, move)
    return Transition(next_state, observation, -step_cost, False, event, move)


def shortest_path(state: GridState) -> list[str] | None:
    """A shortest list of moves from ``state`` to the goal (BFS over positions, key and door), or ``None``."""
    if state.solved:
        return []
    parents: dict[GridState, tuple[GridState, str] | None] = {state: None}
    queue = deque([state])
    while queue:
        current = queue.popleft()
        for move in ACTIONS:
            nxt, event = _advance(current, move)
            if nxt in parents:
                continue
            parents[nxt] = (current, move)
            if event == "goal":
                path = []
                node: GridState = nxt
                while parents[node] is not None:
                    node, step = parents[node]
                    path.append(step)
                return path[::-1]
            queue.append(nxt)
    return None


def _random_walls(rng: random.Random, free: list[Cell], density: float, size: int) -> frozenset[Cell]:
    return frozenset(rng.sample(free, min(len(free), round(density * size * size))))


def generate_layout(rng: random.Random, size: int, difficulty: int) -> GridState:
    """A random solvable layout drawn from ``rng`` (rejection sampling; falls back to fewer walls)."""
    cells = [(r, c) for r in range(size) for c in range(size)]
    density = WALL_DENSITY[difficulty]
    for attempt in range(200):
        scale = 1.0 if attempt < 100 else 0.0  # after many failures, drop the random walls
        if difficulty < 3:
            agent, goal = rng.sample(cells, 2)
            if abs(agent[0] - goal[0]) + abs(agent[1] - goal[1]) < max(2, size // 2):
                continue
            free = [cell for cell in cells if cell not in (agent, goal)]
            state = GridState(size, agent, goal, _random_walls(rng, free, density * scale, size))
        else:
            line = rng.randint(1, size - 2)
            vertical = rng.random() < 0.5
            door = (rng.randrange(size), line) if vertical else (line, rng.randrange(size))
            barrier = {(r, line) if vertical else (line, r) for r in range(size)} - {door}
            axis = 1 if vertical else 0
            before = [cell for cell in cells if cell[axis] < line]
            after = [cell for cell in cells if cell[axis] > line]
            near, far = (before, after) if rng.random() < 0.5 else (after, before)
            if len(near) < 2:
                continue
            agent, key = rng.sample(near, 2)
            goal = rng.choice(far)
            free = [cell for cell in near + far if cell not in (agent, key, goal)]
            extra = _random_walls(rng, free, density * scale, size)
            state = GridState(size, agent, goal, frozenset(barrier) | extra, key=key, door=door)
        if shortest_path(state) is not None:
            return state
    raise RuntimeError(f"could not generate a solvable {size}x{size} layout")  # unreachable in practice


class GridWorldEnv(TextEnv):
    """Walk ``@`` to ``G`` on a text grid; deterministic after ``reset`` (see the module docstring)."""

    name = "gridworld"
    system_prompt = (
        "You are @ on a grid. Reach G. # is a wall; k is a key that opens the door D. "
        "Reply with one move: up, down, left or right."
    )
    transition = staticmethod(transition)

    def __init__(
        self, size: int = 5, difficulty: int = 1, max_turns: int | None = None, step_cost: float = 0.01
    ) -> None:
        if not 3 <= int(size) <= 20:
            raise ValueError(f"size must be in 3..20, got {size}")
        if int(difficulty) not in WALL_DENSITY:
            raise ValueError(f"difficulty must be one of {sorted(WALL_DENSITY)}, got {difficulty}")
        super().__init__(max_turns=2 * int(size) ** 2 if max_turns is None else max_turns)
        self.size = int(size)
        self.difficulty = int(difficulty)
        self.step_cost = float(step_cost)
        self.state = GridState(self.size, (0, 0), (self.size - 1, self.size - 1))
        self._task_id = ""
        self._expert_plan: dict[GridState, str] = {}

    @property
    def config(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "difficulty": self.difficulty,
            "max_turns": self.max_turns,
            "step_cost": self.step_cost,
        }

    def get_state(self) -> dict[str, Any]:
        """The current state as a JSON-able dict (``GridState.to_dict``)."""
        return self.state.to_dict()

    def set_state(self, state: dict[str, Any] | GridState) -> None:
        """Replace the current state (the turn counter is unchanged); the episode is over iff it is solved."""
        self.state = state if isinstance(state, GridState) else GridState.from_dict(state)
        self.done = self.state.solved

    def observe(self, message: str = "Reach G.") -> str:
        """The current observation with a given status message."""
        return render_observation(self.state, message)

    def _reset(self, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if options.get("state") is not None:
            self.set_state(options["state"])
        else:
            self.state = generate_layout(self.rng, self.size, self.difficulty)
        layout = json.dumps(self.state.to_dict(), sort_keys=True)
        self._task_id = f"gridworld-{hashlib.sha1(layout.encode()).hexdigest()[:12]}"
        info = {"task_id": self._task_id, "parsed_action": None, "error": None, "success": self.state.solved}
        info["position"] = list(self.state.agent)
        return self.observe(), info

    def _step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        result = transition(self.state, action, self.step_cost)
        self.state = result.state
        info = {
            "task_id": self._task_id,
            "parsed_action": result.move,
            "error": "invalid_action" if result.event == "invalid" else None,
            "success": self.state.solved,
            "event": result.event,
            "position": list(self.state.agent),
        }
        return result.observation, result.reward, result.terminated, info

    def expert_action(self) -> str:
        """The first move of a BFS shortest path to the goal."""
        if self.state not in self._expert_plan:
            path = shortest_path(self.state) or [ACTIONS[0]]
            # Remember the rest of the path from every state along it, so each later step is a dict lookup.
            self._expert_plan, state = {}, self.state
            for i, move in enumerate(path):
                self._expert_plan[state] = path[i]
                state = _advance(state, move)[0]
        return self._expert_plan[self.state]

    def sample_action(self, rng: random.Random) -> str:
        """A uniformly random direction."""
        return rng.choice(ACTIONS)


register_env("gridworld", GridWorldEnv)

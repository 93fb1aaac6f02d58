"""Environment steps per second of the code environment with its expert: serial against concurrent stepping.

python bench/env_steps.py 64      # episodes; prints one JSON line (steps/s per step_workers, best of two)
"""

from __future__ import annotations

import json
import sys
import time

from mrlm_hf import ExpertPolicy, collect_trajectories
from mrlm_hf.rollout import default_step_workers


def steps_per_second(workers: int, episodes: int) -> float:
    start = time.perf_counter()
    data = collect_trajectories("code", ExpertPolicy(), episodes, num_envs=32, progress=False, step_workers=workers)
    return sum(data["length"]) / (time.perf_counter() - start)


if __name__ == "__main__":
    episodes = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    cores = default_step_workers()
    result = {"cores": cores, "episodes": episodes}
    for workers in sorted({1, cores, 2 * cores, 8}):
        result[f"step_workers={workers}"] = round(max(steps_per_second(workers, episodes) for _ in range(2)), 1)
    print(json.dumps(result))

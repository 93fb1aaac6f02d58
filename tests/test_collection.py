"""Collection that resumes only what was asked for, concurrent environment stepping, and seeds that name tasks."""

from __future__ import annotations

import json
import random
import sys
import threading

import numpy as np
import pyarrow.parquet as pq
import pytest

from mrlm_hf import TRAJECTORY_FEATURES, ExpertPolicy, RandomPolicy, collect_trajectories, make_env
from mrlm_hf.envs.gridworld import GridWorldEnv
from mrlm_hf.envs.math import generate_problem


def collect(env="math", policy=None, n=4, **kwargs):
    return collect_trajectories(env, policy or ExpertPolicy(), n, progress=False, **kwargs)


def rows_on_disk(directory) -> int:
    return sum(pq.read_metadata(str(f)).num_rows for f in directory.glob("shard-*.parquet"))


# ---------------------------------------------------------------------------------------------------- shard_dir
def test_a_shard_dir_refuses_another_environment_or_other_arguments(tmp_path):
    first = collect("math", shard_dir=tmp_path, env_kwargs={"difficulty": 1})
    assert set(first["env_name"]) == {"math"}
    with pytest.raises(ValueError, match="holds trajectories of environment 'math'.*asks for 'gridworld'"):
        collect("gridworld", shard_dir=tmp_path)
    with pytest.raises(ValueError, match=r"holds trajectories of environment 'math'.*\"difficulty\": 2"):
        collect("math", shard_dir=tmp_path, env_kwargs={"difficulty": 2})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["env_name"] == "math" and json.loads(manifest["env_kwargs"])["difficulty"] == 1
    assert manifest["runs"] == [{"policy": "expert", "seed": 0, "num_episodes": 4}]


def test_a_shard_dir_refuses_another_policy_on_the_same_seeds(tmp_path):
    collect(shard_dir=tmp_path, n=4)
    with pytest.raises(ValueError, match=r"seeds 0\.\.3 were collected by policy 'expert'.*uses 'random'"):
        collect(policy=RandomPolicy(0), shard_dir=tmp_path, n=2, seed=3)
    other = collect(policy=RandomPolicy(0), shard_dir=tmp_path, n=3, seed=100)  # other seeds: its own rows only
    assert other["seed"] == [100, 101, 102] and {json.loads(m)["policy"] for m in other["metadata"]} == {"random"}
    grown = collect(shard_dir=tmp_path, n=6)  # num_episodes may grow: 4 reused, 2 played
    assert grown["seed"] == list(range(6)) and rows_on_disk(tmp_path) == 9
    runs = json.loads((tmp_path / "manifest.json").read_text())["runs"]
    assert runs == [
        {"policy": "expert", "seed": 0, "num_episodes": 6},
        {"policy": "random", "seed": 100, "num_episodes": 3},
    ]


def test_shards_without_a_manifest_are_refused(tmp_path):
    collect(shard_dir=tmp_path)
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(ValueError, match="no manifest.json"):
        collect(shard_dir=tmp_path)


def test_two_collectors_into_one_directory_write_each_episode_once(tmp_path):
    start = threading.Barrier(2)
    results, errors = [None, None], []

    def policy(conversations, envs):
        return [env.expert_action() for env in envs]

    policy.name = "expert"

    def run(i):
        try:
            start.wait()
            results[i] = collect(policy=policy, n=12, num_envs=2, shard_dir=tmp_path, shard_size=2)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert rows_on_disk(tmp_path) == 12  # without the lock both play all 12 episodes: 24 rows
    assert results[0]["seed"] == results[1]["seed"] == list(range(12))


def test_zero_episodes_give_an_empty_dataset_with_the_schema(tmp_path):
    for shard_dir in (None, tmp_path):
        empty = collect(n=0, shard_dir=shard_dir)
        assert len(empty) == 0 and empty.features == TRAJECTORY_FEATURES


def test_a_corrupt_shard_is_named_with_the_way_to_recover(tmp_path):
    collect(shard_dir=tmp_path, n=4, shard_size=2)
    shard = sorted(tmp_path.glob("shard-*.parquet"))[0]
    shard.write_bytes(shard.read_bytes()[:100])
    with pytest.raises(ValueError, match=rf"{shard.name} is unreadable.*Delete it and rerun the same collection"):
        collect(shard_dir=tmp_path, n=4)
    shard.unlink()
    assert collect(shard_dir=tmp_path, n=4)["seed"] == [0, 1, 2, 3]  # its episodes are played again


# ---------------------------------------------------------------------------------------------------- concurrent steps
class ThreadRecordingGrid(GridWorldEnv):
    threads: set[str] = set()

    def _step(self, action):
        ThreadRecordingGrid.threads.add(threading.current_thread().name)
        return super()._step(action)


def _same(a, b):
    drop = ["metadata"]  # holds the collection time
    assert a.remove_columns(drop).to_list() == b.remove_columns(drop).to_list()


@pytest.mark.parametrize(
    "env,kwargs,policy,n",
    [
        ("math", {"difficulty": 2}, "random", 12),
        ("gridworld", {"difficulty": 2}, "random", 12),
        ("tools", {}, "expert", 6),
        pytest.param(
            "code",
            {},
            "expert",
            4,
            marks=pytest.mark.skipif(sys.platform != "linux", reason="grading uses the Linux sandbox"),
        ),
    ],
)
def test_concurrent_stepping_gives_the_serial_dataset(env, kwargs, policy, n):
    def run(workers):
        chosen = RandomPolicy(3) if policy == "random" else ExpertPolicy()
        return collect(env, chosen, n, env_kwargs=kwargs, seed=7, num_envs=4, step_workers=workers)

    serial, concurrent = run(1), run(4)
    _same(serial, concurrent)
    assert len(set(serial["seed"])) == n


def test_steps_run_on_the_pool_threads_and_serially_when_asked():
    ThreadRecordingGrid.threads = set()
    collect(lambda: ThreadRecordingGrid(), RandomPolicy(0), 8, num_envs=4, step_workers=1)
    assert ThreadRecordingGrid.threads == {threading.current_thread().name}
    ThreadRecordingGrid.threads = set()
    collect(lambda: ThreadRecordingGrid(), RandomPolicy(0), 8, num_envs=4, step_workers=3)
    assert any(t.startswith("mrlm-step") for t in ThreadRecordingGrid.threads)  # (a last lone episode steps inline)
    with pytest.raises(ValueError, match="step_workers must be >= 1"):
        collect(step_workers=0)


def test_debate_with_a_user_opponent_steps_serially():
    assert make_env("debate").concurrent_steps
    assert not make_env("debate", opponent=RandomPolicy(0)).concurrent_steps


# ---------------------------------------------------------------------------------------------------- seeds
@pytest.mark.parametrize("name", ["math", "gridworld", "debate", "tools"])
def test_distinct_seeds_give_distinct_tasks(name):
    env = make_env(name)
    negative, positive = env.reset(seed=-1), env.reset(seed=1)
    assert negative[0] != positive[0]  # Random(-1) == Random(1): the seed's sign used to be lost
    assert env.reset(seed=-1) == negative and env.reset(seed=np.int64(-1)) == negative
    assert env.reset(seed=-(2**63))[0] != env.reset(seed=2**63 - 1)[0]


def test_non_negative_seeds_keep_their_tasks():
    env = make_env("math", difficulty=2)
    for seed in (0, 5, 2**40):
        assert env.reset(seed=seed)[0] == generate_problem(random.Random(seed), 2)[0]


@pytest.mark.parametrize(
    "seed,error,message",
    [
        (1.5, TypeError, "seed must be an int"),
        ("3", TypeError, "seed must be an int"),
        (True, TypeError, "seed must be an int"),
        (2**63, ValueError, "int64 range"),
        (-(2**63) - 1, ValueError, "int64 range"),
    ],
)
def test_seeds_that_cannot_name_a_task_are_refused(seed, error, message):
    with pytest.raises(error, match=message):
        make_env("math").reset(seed=seed)


def test_duplicate_rows_on_disk_are_returned_once(tmp_path):
    """Directories written before the lock may hold an episode twice: it is returned once."""
    collect(shard_dir=tmp_path, n=4, shard_size=2)
    shard = sorted(tmp_path.glob("shard-*.parquet"))[0]
    (tmp_path / "shard-99999-0.parquet").write_bytes(shard.read_bytes())
    assert rows_on_disk(tmp_path) == 6
    assert collect(shard_dir=tmp_path, n=4)["seed"] == [0, 1, 2, 3]

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
    collect(lambda: ThreadRecordingGrid(), RandomPolicy(0), 8, num_envs=4, step_workers=1, pipeline_groups=1)
    assert ThreadRecordingGrid.threads == {threading.current_thread().name}
    ThreadRecordingGrid.threads = set()
    collect(lambda: ThreadRecordingGrid(), RandomPolicy(0), 8, num_envs=4, step_workers=1)  # beside the policy
    assert len(ThreadRecordingGrid.threads) == 1 and next(iter(ThreadRecordingGrid.threads)).startswith("mrlm-step")
    ThreadRecordingGrid.threads = set()
    collect(lambda: ThreadRecordingGrid(), RandomPolicy(0), 8, num_envs=4, step_workers=3)
    assert all(t.startswith("mrlm-step") for t in ThreadRecordingGrid.threads)
    with pytest.raises(ValueError, match="step_workers must be >= 1"):
        collect(step_workers=0)
    with pytest.raises(ValueError, match="pipeline_groups must be >= 1"):
        collect(pipeline_groups=0)


# ---------------------------------------------------------------------------------------------------- pipelined steps
class KeyedPolicy:
    """Deterministic and multi-turn: a random action drawn from a generator seeded by the conversation, so the
    action never depends on the batch or the order of calls. Records its batch sizes and calling threads."""

    name = "keyed"

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.threads: set[str] = set()

    def __call__(self, conversations, envs):
        self.batches.append(len(conversations))
        self.threads.add(threading.current_thread().name)
        return [env.sample_action(random.Random(json.dumps(c))) for c, env in zip(conversations, envs)]


@pytest.mark.parametrize(
    "env,kwargs,policy,n",
    [
        ("math", {"difficulty": 2}, KeyedPolicy, 13),
        ("gridworld", {"difficulty": 2}, KeyedPolicy, 13),
        ("tools", {}, ExpertPolicy, 9),
        pytest.param(
            "code",
            {},
            ExpertPolicy,
            9,
            marks=pytest.mark.skipif(sys.platform != "linux", reason="grading uses the Linux sandbox"),
        ),
    ],
)
def test_pipelined_stepping_gives_the_serial_dataset(env, kwargs, policy, n):
    def run(**settings):
        return collect(env, policy(), n, env_kwargs=kwargs, seed=7, **settings)

    serial = run(num_envs=4, step_workers=1, pipeline_groups=1)
    assert len(set(serial["seed"])) == n and max(serial["length"]) > 1 or policy is ExpertPolicy
    for settings in (
        {"num_envs": 4, "step_workers": 3, "pipeline_groups": 1},  # concurrent lockstep
        {"num_envs": 4, "step_workers": 3, "pipeline_groups": 2},
        {"num_envs": 3, "step_workers": 1, "pipeline_groups": 3},  # one worker thread beside the policy
        {"num_envs": 2, "step_workers": 2},  # the default: two groups
    ):
        _same(serial, run(**settings))


def test_pipeline_groups_are_full_batches_split_evenly_and_the_policy_stays_on_the_calling_thread():
    policy = KeyedPolicy()
    collect("gridworld", policy, 20, num_envs=4, step_workers=2, pipeline_groups=2)
    assert policy.batches[:4] == [4, 4, 4, 4] and max(policy.batches) == 4  # two groups of num_envs in flight
    assert policy.threads == {threading.current_thread().name}
    policy = KeyedPolicy()
    collect("gridworld", policy, 6, num_envs=4, step_workers=2, pipeline_groups=2)
    assert policy.batches[:2] == [3, 3]  # 6 episodes: two groups of 3, not 4 + 2
    policy = KeyedPolicy()
    collect("gridworld", policy, 3, num_envs=4, step_workers=2, pipeline_groups=2)
    assert policy.batches[0] == 3  # one batch's worth: no split


class GatedGrid(GridWorldEnv):
    """The first group's first steps wait until the policy is called for the next group: they finish only if
    generation for one group overlaps the other group's steps."""

    gate = threading.Event()
    overlapped: list[bool] = []

    def _step(self, action):
        if self.turn == 1 and self._seed < 4:
            GatedGrid.overlapped.append(GatedGrid.gate.wait(timeout=10))
        return super()._step(action)


@pytest.mark.parametrize("workers", [1, 3])
def test_one_groups_steps_run_while_the_policy_generates_for_the_next(workers):
    GatedGrid.gate, GatedGrid.overlapped = threading.Event(), []
    keyed = KeyedPolicy()

    def policy(conversations, envs):
        if len(keyed.batches) == 1:  # the second call: the first group's steps are in flight
            GatedGrid.gate.set()
        return keyed(conversations, envs)

    collect(lambda: GatedGrid(), policy, 8, num_envs=4, step_workers=workers, pipeline_groups=2)
    assert GatedGrid.overlapped == [True] * 4


def test_progress_bar_counts_every_episode_once(monkeypatch):
    bars = []

    class Bar:
        def __init__(self, total, initial, **kwargs):
            self.total, self.n = total, initial
            bars.append(self)

        def update(self, n):
            self.n += n

        def set_postfix(self, **kwargs):
            self.postfix = kwargs

        def close(self):
            pass

    monkeypatch.setattr("mrlm_hf.rollout.tqdm", Bar)
    data = collect("gridworld", KeyedPolicy(), 11, env_kwargs={"difficulty": 2}, num_envs=3, pipeline_groups=3)
    assert bars[0].total == bars[0].n == 11 and bars[0].postfix["steps"] == sum(data["length"])


class BrokenGrid(GridWorldEnv):
    def _step(self, action):
        if self._seed == 5:
            raise RuntimeError("step failed")
        return super()._step(action)


def test_a_step_that_raises_on_a_worker_thread_ends_the_collection_with_its_error(tmp_path):
    with pytest.raises(RuntimeError, match="step failed"):
        collect(
            lambda: BrokenGrid(), KeyedPolicy(), 12, num_envs=2, pipeline_groups=2, shard_dir=tmp_path, shard_size=1
        )
    on_disk = [s for f in tmp_path.glob("shard-*.parquet") for s in pq.read_table(f)["seed"].to_pylist()]
    assert len(on_disk) >= 2 and 5 not in on_disk  # the episodes finished before the error were kept


class SharedStateGrid(ThreadRecordingGrid):
    concurrent_steps = False


def test_environments_that_share_state_are_never_pipelined():
    ThreadRecordingGrid.threads = set()
    policy = KeyedPolicy()
    collect(lambda: SharedStateGrid(), policy, 8, num_envs=4)  # default: lockstep on the calling thread
    assert ThreadRecordingGrid.threads == {threading.current_thread().name} and policy.batches[:2] == [4, 4]
    with pytest.raises(ValueError, match="concurrent_steps=False.*use pipeline_groups=1"):
        collect(lambda: SharedStateGrid(), policy, 8, num_envs=4, pipeline_groups=2)
    with pytest.raises(ValueError, match="'debate' here has concurrent_steps=False"):
        collect("debate", policy, 4, env_kwargs={"opponent": RandomPolicy(0)}, num_envs=2, pipeline_groups=2)


def test_debate_with_a_user_opponent_steps_serially():
    assert make_env("debate").concurrent_steps
    assert not make_env("debate", opponent=RandomPolicy(0)).concurrent_steps
    assert not make_env("debate", judge="model", judge_policy=RandomPolicy(0)).concurrent_steps  # a model judge


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

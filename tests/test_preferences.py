"""Preference pairs from trajectories: same state, strictly better chosen, replayed states, schema, TRL masks."""

from __future__ import annotations

import json

import pytest
from conftest import make_tokenizer
from datasets import Dataset
from trl import DPOConfig

from mrlm_hf import ExpertPolicy, RandomPolicy, collect_trajectories, make_env
from mrlm_hf.data import trajectories_from_rows
from mrlm_hf.preferences import (
    PREFERENCE_FEATURES,
    TrajectoryDPOTrainer,
    build_preference_pairs,
    collect_preference_pairs,
    load_preference_pairs,
    replay,
    save_preference_pairs,
)
from mrlm_hf.tiny import build_model


def _row(seed: int, actions: list[str], rewards: list[float], observations: list[str] | None = None) -> dict:
    observations = observations or [f"o{k}" for k in range(len(actions) + 1)]
    return {"env_name": "toy", "seed": seed, "observations": observations, "actions": actions, "rewards": rewards}


def _state_of(row: dict) -> tuple:
    return json.dumps(row["prompt"]), row["seed"], row["env_name"], row["env_kwargs"], row["agent_id"]


def test_pairs_share_the_state_and_chosen_is_strictly_better():
    rows = [
        _row(0, ["a", "x"], [0.0, 1.0]),  # a then x: 1.0
        _row(0, ["a", "y"], [0.0, 0.0]),  # a then y: 0.0  -> at state (o0, a, o1): x > y
        _row(0, ["b"], [0.5]),  # b: 0.5; a's mean is 0.5 too -> no pair at the initial state
        _row(0, ["c"], [0.5 + 1e-7]),  # a near-tie with b and a (float32: +1.2e-7): below min_return_gap
        _row(1, ["b"], [0.0]),  # another seed: never paired with seed 0
        _row(0, ["a", "q"], [0.0, 5.0], ["DIFFERENT", "o1", "o2"]),  # same seed and actions, another history
    ]
    pairs = build_preference_pairs(trajectories_from_rows(rows))
    assert len(pairs) == 1
    pair = pairs[0]
    assert pair["chosen"] == [{"role": "assistant", "content": "x"}]
    assert pair["rejected"] == [{"role": "assistant", "content": "y"}]
    assert [m["content"] for m in pair["prompt"]] == ["o0", "a", "o1"] and pair["step"] == 1 and pair["seed"] == 0
    assert pair["chosen_return"] == 1.0 and pair["rejected_return"] == 0.0
    assert json.loads(pair["metadata"]) == {"chosen_rows": [0], "rejected_rows": [1]}
    # A larger gap threshold drops it; a zero gap still never pairs equal values (a and b at the initial state).
    assert len(build_preference_pairs(trajectories_from_rows(rows), min_return_gap=1.0)) == 0
    zero_gap = build_preference_pairs(trajectories_from_rows(rows), min_return_gap=0.0)
    assert all(p["chosen_return"] > p["rejected_return"] for p in zero_gap)
    assert {(p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in zero_gap} == {
        ("x", "y"),
        ("c", "a"),
        ("c", "b"),
    }
    # Different histories are different states even with the same seed and actions: that row is never paired.
    assert not any("DIFFERENT" in json.dumps(p["prompt"]) or "q" in json.dumps(p["chosen"]) for p in zero_gap)


def test_max_pairs_per_state_keeps_the_largest_gaps():
    rows = [_row(0, [a], [r]) for a, r in [("a", 1.0), ("b", 0.5), ("c", 0.0)]]
    pairs = build_preference_pairs(trajectories_from_rows(rows), max_pairs_per_state=1)
    assert len(pairs) == 1 and (pairs[0]["chosen"][0]["content"], pairs[0]["rejected"][0]["content"]) == ("a", "c")
    assert len(build_preference_pairs(trajectories_from_rows(rows))) == 3


def test_bad_rows_are_named():
    with pytest.raises(ValueError, match="row 1: column 'rewards'"):  # refused where trajectories are built
        trajectories_from_rows([_row(0, ["a"], [1.0]), _row(0, ["a", "b"], [1.0])])
    data = trajectories_from_rows([_row(0, ["a"], [1.0]), _row(0, ["a", "b"], [1.0, 0.0])])
    bad = Dataset.from_list([*data.select([0]), {**data[1], "rewards": [1.0]}], features=data.features)
    with pytest.raises(ValueError, match="row 1: column 'rewards'"):  # and again by build_preference_pairs
        build_preference_pairs(bad)
    with pytest.raises(ValueError, match="min_return_gap"):
        build_preference_pairs(data, min_return_gap=-1)
    with pytest.raises(ValueError, match="missing"):
        build_preference_pairs(data.remove_columns("seed"))


def test_replay_restores_the_state():
    ref = collect_trajectories("gridworld", RandomPolicy(3), 3, seed=7, progress=False)
    env = make_env("gridworld", **json.loads(ref[0]["env_kwargs"]))
    for row in ref:
        for k in range(len(row["actions"])):
            observations, rewards, _, _ = replay(env, row["seed"], row["actions"][:k])
            assert observations == row["observations"][: k + 1] and rewards == pytest.approx(row["rewards"][:k])


def test_collected_pairs_sample_several_continuations_per_state():
    seeds = range(5, 9)
    pairs, trajectories = collect_preference_pairs(
        "gridworld",
        RandomPolicy(0),
        seeds,
        samples_per_state=4,
        reference_policy=ExpertPolicy(),
        branch_steps=(0, 2),
        progress=False,
        return_trajectories=True,
    )
    reference = {r["seed"]: r for r in collect_trajectories("gridworld", ExpertPolicy(), 4, seed=5, progress=False)}
    deep_enough = sum(r["length"] > 2 for r in reference.values())  # a state after 2 actions exists (not terminal)
    assert 0 < deep_enough < len(seeds)  # both cases occur with these seeds
    assert len(trajectories) == 4 * (len(seeds) + deep_enough) and len(pairs) > 0
    branched = [t for t in trajectories if json.loads(t["metadata"])["branch_step"] == 2]
    for t in branched:  # replayed prefix = the reference's, with its observations
        assert t["actions"][:2] == reference[t["seed"]]["actions"][:2]
        assert t["observations"][:3] == reference[t["seed"]]["observations"][:3]
    assert {t["seed"] for t in trajectories} == set(seeds)
    for pair in pairs:
        assert pair["chosen_return"] > pair["rejected_return"] and pair["chosen"] != pair["rejected"]
        assert pair["chosen_count"] + pair["rejected_count"] >= 2
        rows = json.loads(pair["metadata"])
        sources = [trajectories[i] for i in rows["chosen_rows"] + rows["rejected_rows"]]
        k = pair["step"]
        messages = [m["content"] for m in pair["prompt"][1:]]  # after the system prompt
        for source in sources:  # every continuation behind the pair starts from the prompt's exact state
            assert source["seed"] == pair["seed"] and source["actions"][:k] == messages[1::2]
            assert source["observations"][: k + 1] == messages[0::2]
    assert 2 in set(pairs["step"])  # pairs at the replayed state too
    with pytest.raises(ValueError, match="reference_policy"):
        collect_preference_pairs("gridworld", RandomPolicy(0), seeds, branch_steps=(1,), progress=False)


def test_a_deterministic_policy_gives_no_pairs():
    pairs = collect_preference_pairs("gridworld", ExpertPolicy(), range(3), samples_per_state=3, progress=False)
    assert len(pairs) == 0 and pairs.features == PREFERENCE_FEATURES


@pytest.mark.parametrize("name", ["pairs", "pairs.parquet", "pairs.jsonl"])
def test_schema_and_save_load_round_trip(tmp_path, name):
    pairs = collect_preference_pairs("math", RandomPolicy(1), range(6), samples_per_state=4, progress=False)
    assert len(pairs) > 0 and pairs.features == PREFERENCE_FEATURES
    path = save_preference_pairs(pairs, tmp_path / name)
    loaded = load_preference_pairs(path)
    assert loaded.features == PREFERENCE_FEATURES and loaded.to_list() == pairs.to_list()


def _trainer(tokenizer, pairs, tmp_path):
    args = DPOConfig(
        output_dir=str(tmp_path),
        use_cpu=True,
        bf16=False,
        max_steps=1,
        per_device_train_batch_size=2,
        activation_checkpointing=False,
        report_to="none",
        max_length=None,
    )
    model = build_model(tokenizer, hidden_size=32)
    return TrajectoryDPOTrainer(model, args=args, train_dataset=pairs, processing_class=tokenizer)


@pytest.mark.parametrize("template", ["chatml", "llama3", "phi3", "qwen2_5", "gemma"])
def test_trained_tokens_are_exactly_the_actions_and_their_end_of_turn(tmp_path, template):
    pairs = build_preference_pairs(
        trajectories_from_rows(
            [
                {**_row(0, ["The answer is 42.", "x"], [0.0, 1.0]), "system_prompt": "Answer."},
                {**_row(0, ["The answer is 42.", "y z"], [0.0, 0.0]), "system_prompt": "Answer."},
                {**_row(1, ["up"], [1.0]), "system_prompt": "Answer."},
                {**_row(1, ["left"], [0.0]), "system_prompt": "Answer."},
            ]
        )
    )
    tokenizer = make_tokenizer(template)
    end = {
        "chatml": "<|im_end|>",
        "llama3": "<|eot_id|>",
        "phi3": "<|end|>",
        "qwen2_5": "<|im_end|>",
        "gemma": "<end_of_turn>",
    }[template]
    trainer = _trainer(tokenizer, pairs, tmp_path)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(pairs))])
    texts = [tokenizer.decode(ids[mask.bool()]) for ids, mask in zip(batch["input_ids"], batch["completion_mask"])]
    expected = [p["chosen"][0]["content"] + end for p in pairs] + [p["rejected"][0]["content"] + end for p in pairs]
    assert texts == expected
    # The prompt part is what the policy sees when it acts: it ends where the model starts generating.
    from mrlm_hf import TransformersPolicy

    prompt = tokenizer.decode(trainer.train_dataset[0]["prompt_ids"])
    assert prompt == TransformersPolicy(trainer.model, tokenizer).prompts([pairs[0]["prompt"]])[0]
    trainer.train()  # one DPO step runs


def test_multi_message_completions_are_refused(tmp_path):
    pairs = build_preference_pairs(trajectories_from_rows([_row(0, ["a"], [1.0]), _row(0, ["b"], [0.0])]))
    rows = pairs.to_list()
    rows[0]["chosen"] = [*rows[0]["chosen"], {"role": "user", "content": "Correct!"}]
    from datasets import Dataset

    with pytest.raises(ValueError, match="Row 0 of the train dataset: column 'chosen'"):
        _trainer(make_tokenizer(), Dataset.from_list(rows, features=PREFERENCE_FEATURES), tmp_path)


def test_the_sampling_policy_sees_the_whole_history_at_a_replayed_state():
    class Recorder:
        name = "recorder"

        def __init__(self) -> None:
            self.seen: list = []
            self.random = RandomPolicy(0)

        def __call__(self, conversations, envs=None):
            self.seen.extend(conversations)
            return self.random(conversations, envs)

    from mrlm_hf.chat import trajectory_messages

    recorder = Recorder()
    _, trajectories = collect_preference_pairs(
        "gridworld",
        recorder,
        [5],
        samples_per_state=2,
        reference_policy=ExpertPolicy(),
        branch_steps=(2,),
        progress=False,
        return_trajectories=True,
    )
    for t in trajectories:  # the first sampled action at step 2 answered the full conversation o0 a0 o1 a1 o2
        assert trajectory_messages(t["system_prompt"], t["observations"][:3], t["actions"][:2]) in recorder.seen
    assert all(len(c) >= 6 for c in recorder.seen)  # system + 3 observations + 2 actions, never a cut history


def test_a_sampling_model_and_concatenated_collections_give_pairs():
    from datasets import concatenate_datasets

    from mrlm_hf import TransformersPolicy

    tokenizer = make_tokenizer()
    policy = TransformersPolicy(build_model(tokenizer, hidden_size=32), tokenizer, max_new_tokens=6, seed=0)
    pairs = collect_preference_pairs("math", policy, range(4), samples_per_state=3, progress=False)
    assert pairs.features == PREFERENCE_FEATURES
    assert all(p["chosen_return"] > p["rejected_return"] for p in pairs)
    # The other source: several collections over the same seeds (different random policies), then pairs.
    runs = [collect_trajectories("math", RandomPolicy(i), 8, progress=False) for i in range(3)]
    pairs = build_preference_pairs(concatenate_datasets(runs))
    assert len(pairs) > 0 and set(pairs["seed"]) <= set(range(8)) and set(pairs["step"]) >= {0}

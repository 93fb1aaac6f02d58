"""TrajectorySFTTrainer: the loss is the documented one, in every batching mode, and training works."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import make_tokenizer, make_trainer, toy_rows
from datasets import Dataset
from peft import LoraConfig

from mrlm_hf import TrajectorySFTConfig, TrajectorySFTTrainer, trajectories_from_rows
from mrlm_hf.collator import TrajectoryCollator
from mrlm_hf.tiny import build_model
from mrlm_hf.tokenize import ACTION, OBSERVATION


def reference_loss(model, batch, weights):
    """Independent computation: full fp32 logits, log-softmax, mean NLL per token type, weighted sum."""
    with torch.no_grad():
        kwargs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids") if k in batch}
        logits = model(**kwargs).logits.float()
    log_probs = torch.log_softmax(logits[:, :-1], dim=-1)
    labels, types = batch["labels"][:, 1:], batch["token_types"][:, 1:]
    nll = -log_probs.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    total = 0.0
    for token_type, weight in zip((ACTION, OBSERVATION), weights):
        mask = (labels != -100) & (types == token_type)
        if weight:
            total += weight * float(nll[mask].mean())
    return total


def trainer_loss(trainer, batch, num_items=None):
    trainer.model.eval()
    with torch.no_grad():
        return float(trainer.compute_loss(trainer.model, dict(batch), num_items_in_batch=num_items))


@pytest.mark.parametrize(
    "mode,weights",
    [("combined", (0.7, 0.3)), ("behavioral_cloning", (1.0, 0.0)), ("world_model", (0.0, 1.0))],
)
def test_loss_equals_weighted_sum_of_independent_objective_losses(tmp_path, toy_dataset, mode, weights):
    trainer = make_trainer(tmp_path, toy_dataset, mode=mode, bc_weight=0.7, world_model_weight=0.3)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(6)])
    expected = reference_loss(trainer.model, batch, weights)
    assert trainer_loss(trainer, batch) == pytest.approx(expected, rel=1e-4)


def test_padded_and_padding_free_batches_give_the_same_loss(tmp_path, toy_dataset):
    trainer = make_trainer(tmp_path, toy_dataset)
    examples = [trainer.train_dataset[i] for i in range(6)]
    pad_id = trainer.processing_class.pad_token_id
    padded = TrajectoryCollator(pad_token_id=pad_id)(examples)
    flat = TrajectoryCollator(pad_token_id=pad_id, padding_free=True)(examples)
    assert flat["input_ids"].shape[0] == 1 and "attention_mask" not in flat
    assert int((flat["token_types"] > 0).sum()) == int((padded["token_types"] > 0).sum())
    assert trainer_loss(trainer, flat) == pytest.approx(trainer_loss(trainer, padded), rel=1e-4)
    assert trainer_loss(trainer, flat) == pytest.approx(reference_loss(trainer.model, padded, (0.5, 0.5)), rel=1e-4)


def test_packed_dataset_keeps_token_types_aligned(tmp_path, toy_dataset):
    trainer = make_trainer(tmp_path, toy_dataset, packing=True, max_length=256)
    row = trainer.train_dataset[0]
    assert len(row["seq_lengths"]) > 1  # several trajectories share a row
    assert len(row["input_ids"]) == len(row["token_types"]) == len(row["labels"]) == sum(row["seq_lengths"])
    assert [t > 0 for t in row["token_types"]] == [label != -100 for label in row["labels"]]
    assert trainer.args.packing  # the user's flags are restored after TRL's init


def test_gradient_accumulation_splits_the_same_loss(tmp_path, toy_dataset):
    """Micro-batch losses normalised by the whole batch's token counts add up to the full-batch loss."""
    trainer = make_trainer(tmp_path, toy_dataset)
    examples = [trainer.train_dataset[i] for i in range(8)]
    full = trainer.data_collator(examples)
    micro = [trainer.data_collator(examples[:3]), trainer.data_collator(examples[3:])]
    counts = trainer._get_num_items_in_batch(micro, torch.device("cpu"))
    assert counts.tolist() == trainer._get_num_items_in_batch([full], torch.device("cpu")).tolist()
    split = sum(trainer_loss(trainer, batch, counts) for batch in micro)
    assert split == pytest.approx(trainer_loss(trainer, full), rel=1e-4)


def test_training_reduces_loss_and_logs_each_objective(tmp_path):
    dataset = trajectories_from_rows(toy_rows(64))
    trainer = make_trainer(tmp_path, dataset, max_steps=30, learning_rate=1e-2, gradient_accumulation_steps=2)
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert logs[-1]["loss"] < 0.6 * logs[0]["loss"]
    for key in ("loss_bc", "loss_wm", "ppl_bc", "ppl_wm", "accuracy_bc", "accuracy_wm"):
        assert key in logs[-1]
    assert logs[0]["loss"] == pytest.approx(0.5 * logs[0]["loss_bc"] + 0.5 * logs[0]["loss_wm"], rel=1e-3)
    assert logs[-1]["ppl_bc"] == pytest.approx(math.exp(logs[-1]["loss_bc"]), rel=1e-3)
    metrics = trainer.evaluate(trainer.train_dataset)
    assert {"eval_loss_bc", "eval_loss_wm", "eval_accuracy_bc"} <= set(metrics)


def test_lora_trains_only_adapters(tmp_path, toy_dataset):
    tokenizer = make_tokenizer("chatml")
    model = build_model(tokenizer, hidden_size=32, intermediate_size=64)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = TrajectorySFTTrainer(
        model,
        args=TrajectorySFTConfig(
            output_dir=str(tmp_path),
            max_steps=3,
            learning_rate=1e-2,
            report_to="none",
            use_cpu=True,
            save_strategy="no",
            per_device_train_batch_size=8,
        ),
        train_dataset=toy_dataset,
        processing_class=tokenizer,
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
    )
    trainer.train()
    state = trainer.model.state_dict()
    lora = [k for k in state if "lora_" in k]
    assert lora and any(not torch.equal(state[k], torch.zeros_like(state[k])) for k in lora if "lora_B" in k)
    base = {
        k.replace("base_model.model.", "").replace(".base_layer", ""): v for k, v in state.items() if "lora_" not in k
    }
    assert all(torch.equal(base[k], before[k]) for k in before if k in base)


def test_reward_filter_in_config(tmp_path):
    rows = toy_rows(10)
    for row in rows[:4]:
        row["rewards"] = [0.0] * len(row["rewards"])
    trainer = make_trainer(tmp_path, trajectories_from_rows(rows), filter_low_reward=True, min_reward_threshold=0.5)
    assert len(trainer.train_dataset) == 6


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"mode": "imitation"}, "mode must be one of"),
        ({"bc_weight": -1.0}, ">= 0"),
        ({"bc_weight": 0.0, "world_model_weight": 0.0}, "at least one"),
        ({"layout": "episodes"}, "layout must be one of"),
        ({"collect_every": -1}, "collect_every"),
        ({"max_trajectories": 0}, "max_trajectories"),
    ],
)
def test_invalid_config_fails_at_construction(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrajectorySFTConfig(output_dir=str(tmp_path), **kwargs)


def test_cpu_defaults_to_fp32(tmp_path):
    config = TrajectorySFTConfig(output_dir=str(tmp_path))
    assert config.bf16 == torch.cuda.is_available()


# ---------------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    "field", ["bc_weight", "world_model_weight", "min_reward_threshold", "learning_rate", "collect_temperature"]
)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_at_config_time(tmp_path, field, value):
    with pytest.raises(ValueError, match=f"{field} must be a finite number"):
        TrajectorySFTConfig(output_dir=str(tmp_path), use_cpu=True, **{field: value})


def test_reward_filter_without_a_return_column_refuses(tmp_path, toy_dataset):
    with pytest.raises(ValueError, match="needs a 'return' column"):
        make_trainer(tmp_path, toy_dataset.remove_columns("return"), filter_low_reward=True)
    tokenized = make_trainer(tmp_path, toy_dataset).train_dataset
    with pytest.raises(ValueError, match="already tokenized"):
        make_trainer(tmp_path, tokenized, filter_low_reward=True)


def test_reward_filter_that_keeps_nothing_says_so(tmp_path, toy_dataset):
    with pytest.raises(ValueError, match=r"removed all 32 trajectories.*highest is 1\.0.*Lower min_reward_threshold"):
        make_trainer(tmp_path, toy_dataset, filter_low_reward=True, min_reward_threshold=2.0)


def test_empty_dataset_says_it_is_empty(tmp_path):
    with pytest.raises(ValueError, match="no trajectories"):
        make_trainer(tmp_path, trajectories_from_rows([]))


def test_world_model_with_nothing_to_predict_says_so(tmp_path):
    rows = toy_rows(4, steps=1)
    for row in rows:
        row["observations"] = row["observations"][:1]  # cut before the final observation
    with pytest.raises(ValueError, match="Nothing to predict in world_model mode"):
        make_trainer(tmp_path, trajectories_from_rows(rows), mode="world_model")
    assert len(make_trainer(tmp_path, trajectories_from_rows(rows), mode="behavioral_cloning").train_dataset) == 4


def test_examples_all_too_long_say_max_length(tmp_path, toy_dataset):
    with pytest.raises(ValueError, match="All 32 examples were dropped.*longer than max_length=4"):
        make_trainer(tmp_path, toy_dataset, max_length=4, layout="trajectory")


def test_misaligned_rows_are_refused_before_training(tmp_path, toy_dataset):
    rows = toy_dataset.to_list()
    rows[7]["observations"] = rows[7]["observations"][:1]  # 1 observation for 2 actions
    bad = Dataset.from_list(rows, features=toy_dataset.features)  # bypasses trajectories_from_rows
    with pytest.raises(ValueError, match=r"row 7: column 'observations' .* 1 observations for 2 actions"):
        make_trainer(tmp_path, bad)
    rows[7] = toy_dataset[7]
    rows[5]["rewards"] = [*rows[5]["rewards"], 0.0]
    with pytest.raises(ValueError, match="row 5: column 'rewards' .* 3 rewards for 2 actions"):
        make_trainer(tmp_path, Dataset.from_list(rows, features=toy_dataset.features))


def test_cut_episode_trains_its_actions_but_no_missing_observation(tmp_path, chatml_tokenizer):
    rows = toy_rows(2, steps=2)
    rows[0]["observations"] = rows[0]["observations"][:2]  # o_0 a_0 o_1 a_1, final observation missing
    data = trajectories_from_rows(rows)
    trainer = make_trainer(tmp_path, data, tokenizer=chatml_tokenizer, layout="trajectory")
    cut, full = trainer.train_dataset[0], trainer.train_dataset[1]

    def targets(example, token_type):
        return chatml_tokenizer.decode(
            [i for i, t in zip(example["input_ids"], example["token_types"]) if t == token_type]
        )

    assert targets(cut, ACTION) == "".join(f"{a}<|im_end|>" for a in rows[0]["actions"])  # both actions train
    assert targets(cut, OBSERVATION) == "Incorrect, try again.<|im_end|>"  # o_1 only: o_2 is missing
    assert targets(full, OBSERVATION) == "Incorrect, try again.<|im_end|>Correct!<|im_end|>"
    wm = make_trainer(tmp_path, data, tokenizer=chatml_tokenizer, mode="world_model", layout="transition")
    assert wm.num_dropped_examples == 0 and len(wm.train_dataset) == 3  # cut row: one step, full row: two


def test_non_finite_loss_stops_training_at_its_step(tmp_path, toy_dataset):
    from transformers import TrainerCallback

    class Poison(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step == 2:  # the weights become NaN after step 2: step 3's loss is NaN
                with torch.no_grad():
                    next(model.parameters()).fill_(math.nan)

    trainer = make_trainer(tmp_path, toy_dataset, max_steps=6, logging_steps=5)
    trainer.add_callback(Poison())
    with pytest.raises(RuntimeError, match="NaN or infinite at step 3"):
        trainer.train()
    assert trainer.state.global_step == 5  # stopped at the first logging step after it


def test_model_paths_that_cannot_load_say_why(tmp_path):
    from mrlm_hf.trainer import check_model_path

    assert check_model_path(str(tmp_path)) == str(tmp_path)
    for name in ("./missing-model", str(tmp_path / "missing"), "a/b/c"):
        with pytest.raises(FileNotFoundError, match="does not exist"):
            check_model_path(name)
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE=1 forbids"):  # conftest sets offline mode
        check_model_path("some-org/some-model")

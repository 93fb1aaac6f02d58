"""Speed settings: an explicit flag is kept, unset ones are chosen (and logged once), DDP skips the unused-parameter
search by default, and Liger kernels are applied through liger-kernel's public per-architecture functions."""

from __future__ import annotations

import logging
import sys
import types
import warnings

import pytest
import torch
from conftest import make_tokenizer, make_trainer

import mrlm_hf.config as config_module
from mrlm_hf import TrajectorySFTConfig
from mrlm_hf.attention import apply_liger_kernels
from mrlm_hf.tiny import build_model


@pytest.fixture
def cuda_machine(monkeypatch):
    """TrajectorySFTConfig believes it runs on a CUDA machine (only its choice of defaults reads this)."""
    monkeypatch.setattr(config_module, "_cuda_available", lambda: True)
    monkeypatch.setattr(config_module, "_LOGGED", set())


def config(tmp_path, **kwargs) -> TrajectorySFTConfig:
    return TrajectorySFTConfig(output_dir=str(tmp_path), report_to="none", bf16=False, **kwargs)


def test_fast_gpu_defaults_fill_only_unset_flags(tmp_path, cuda_machine):
    chosen = config(tmp_path)
    assert chosen.packing is True and chosen.activation_checkpointing is False
    kept = config(tmp_path, packing=False, activation_checkpointing=True)
    assert kept.packing is False and kept.activation_checkpointing is True
    with pytest.warns(FutureWarning, match="gradient_checkpointing"):  # transformers' deprecated alias still counts
        assert config(tmp_path, gradient_checkpointing=True).activation_checkpointing is True
    off = config(tmp_path, fast_gpu_defaults=False)
    assert off.packing is False and off.activation_checkpointing is True  # TRL's defaults


def rl_and_recipe_configs():
    """The other configs that take the checkpointing names: GRPO, RLOO, and the DPO recipe's."""
    from pathlib import Path

    from mrlm_hf.rl import EnvGRPOConfig, EnvRLOOConfig

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes"))
    from dpo import RecipeDPOConfig

    return [EnvGRPOConfig, EnvRLOOConfig, RecipeDPOConfig]


@pytest.mark.parametrize("index", range(3))
def test_rl_configs_keep_trls_checkpointing_default_without_the_deprecation_warning(tmp_path, index):
    cls = rl_and_recipe_configs()[index]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        assert cls(output_dir=str(tmp_path), use_cpu=True, bf16=False).activation_checkpointing is True  # TRL's
        off = cls(output_dir=str(tmp_path), use_cpu=True, bf16=False, activation_checkpointing=False)
    assert off.activation_checkpointing is False and off.gradient_checkpointing is False
    with pytest.warns(FutureWarning, match="gradient_checkpointing"):  # the old name alone still works
        assert (
            cls(
                output_dir=str(tmp_path), use_cpu=True, bf16=False, gradient_checkpointing=False
            ).activation_checkpointing
            is False
        )


@pytest.mark.parametrize("index", range(4))
def test_a_deprecated_checkpointing_flag_that_disagrees_is_refused_not_dropped(tmp_path, index):
    """A recipe's default sets activation_checkpointing; transformers would then drop --gradient_checkpointing."""
    cls = [TrajectorySFTConfig, *rl_and_recipe_configs()][index]
    with pytest.raises(ValueError, match="--activation_checkpointing true"):
        cls(
            output_dir=str(tmp_path),
            use_cpu=True,
            bf16=False,
            activation_checkpointing=False,
            gradient_checkpointing=True,
        )
    agreed = cls(
        output_dir=str(tmp_path), use_cpu=True, bf16=False, activation_checkpointing=True, gradient_checkpointing=True
    )
    assert agreed.activation_checkpointing is True


def test_cpu_keeps_trls_defaults(tmp_path):
    args = config(tmp_path, use_cpu=True)
    assert args.packing is False and args.activation_checkpointing is True


def test_the_choice_is_logged_once(tmp_path, cuda_machine, caplog):
    with caplog.at_level(logging.INFO, logger="mrlm_hf.config"):
        config(tmp_path)
        config(tmp_path)
    messages = [r.getMessage() for r in caplog.records if "chose" in r.getMessage()]
    assert len(messages) == 1
    assert "packing=True" in messages[0] and "activation_checkpointing=False" in messages[0]


def test_no_deprecated_checkpointing_warning_by_default(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        config(tmp_path, use_cpu=True)


def test_ddp_skips_the_unused_parameter_search_unless_asked(tmp_path, toy_dataset):
    handler = make_trainer(tmp_path, toy_dataset).accelerator.ddp_handler
    assert handler.find_unused_parameters is False and handler.broadcast_buffers is False
    handler = make_trainer(tmp_path, toy_dataset, ddp_find_unused_parameters=True).accelerator.ddp_handler
    assert handler.find_unused_parameters is True


def test_no_host_sync_per_micro_batch_for_the_nan_filter(tmp_path):
    """Trainer's NaN/inf loss filter reads the loss on the host at every micro-batch; the trainer's own check (at
    logging, tests/test_trainer.py) replaces it, so it is off unless asked for."""
    assert config(tmp_path, use_cpu=True).logging_nan_inf_filter is False
    assert config(tmp_path, use_cpu=True, logging_nan_inf_filter=True).logging_nan_inf_filter is True


def test_padding_free_token_count_stays_on_the_host(tmp_path, toy_dataset):
    """A padding-free micro-batch's token count is a host number (a device tensor built from it would be a
    host-to-device copy waiting for the GPU); a padded one's is summed on the device. Both are counted."""
    from mrlm_hf.collator import TrajectoryCollator

    trainer = make_trainer(tmp_path, toy_dataset)
    examples = [trainer.train_dataset[i] for i in range(4)]
    pad_id = trainer.processing_class.pad_token_id
    flat = TrajectoryCollator(pad_token_id=pad_id, padding_free=True)(examples)
    padded = TrajectoryCollator(pad_token_id=pad_id)(examples)
    trainer.model.train()
    trainer.compute_loss(trainer.model, dict(flat))
    assert trainer._pending_train_tokens == flat["input_ids"].numel() and not torch.is_tensor(
        trainer._pending_train_tokens
    )
    trainer.compute_loss(trainer.model, dict(padded))
    trainer.log({})
    real = sum(len(e["input_ids"]) for e in examples)
    assert trainer._total_train_tokens == 2 * real


# ---------------------------------------------------------------------------------------------------- Liger
@pytest.fixture
def fake_liger(monkeypatch):
    """A stand-in for ``liger_kernel.transformers`` (not installed here) that records what is applied."""
    calls = []

    def apply_liger_kernel_to_qwen2(
        rope=True, cross_entropy=False, fused_linear_cross_entropy=True, rms_norm=True, swiglu=True, model=None
    ):
        calls.append(("qwen2", model, rope, rms_norm, swiglu, cross_entropy, fused_linear_cross_entropy))

    package = types.ModuleType("liger_kernel")
    module = types.ModuleType("liger_kernel.transformers")
    module.apply_liger_kernel_to_qwen2 = apply_liger_kernel_to_qwen2
    package.transformers = module
    monkeypatch.setitem(sys.modules, "liger_kernel", package)
    monkeypatch.setitem(sys.modules, "liger_kernel.transformers", module)
    return module, calls


def test_liger_applied_through_the_public_function_of_the_architecture(fake_liger):
    _, calls = fake_liger
    model = build_model(make_tokenizer("chatml"), hidden_size=32, intermediate_size=64)
    assert model.config.model_type == "qwen2"
    assert apply_liger_kernels(model) is True
    # Fused kernels on, Liger's losses off (the trainer computes its own per-token loss).
    assert calls == [("qwen2", model, True, True, True, False, False)]


def test_liger_passes_only_the_options_a_function_takes(fake_liger):
    module, _ = fake_liger
    seen = {}

    def apply_liger_kernel_to_qwen2(rope=True, rms_norm=True, geglu=True, model=None):
        seen.update(rope=rope, rms_norm=rms_norm, geglu=geglu, model=model)

    module.apply_liger_kernel_to_qwen2 = apply_liger_kernel_to_qwen2
    model = build_model(make_tokenizer("chatml"), hidden_size=32, intermediate_size=64)
    assert apply_liger_kernels(model) is True and seen["model"] is model


def test_liger_skips_unknown_architectures_and_a_missing_package(fake_liger, monkeypatch, caplog):
    model = build_model(make_tokenizer("chatml"), hidden_size=32, intermediate_size=64)
    monkeypatch.setattr(model.config, "model_type", "unknown_arch")
    with caplog.at_level(logging.WARNING, logger="mrlm_hf.attention"):
        assert apply_liger_kernels(model) is False
    assert "apply_liger_kernel_to_unknown_arch" in caplog.text
    monkeypatch.setitem(sys.modules, "liger_kernel", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "liger_kernel.transformers", None)
    assert apply_liger_kernels(model) is False


# ---------------------------------------------------------------------------------------------------- recipe names
def test_recipe_renamed_fields_keep_their_old_names(monkeypatch):
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "recipes"))
    from sft import make_parser

    with pytest.warns(FutureWarning) as record:
        env_args, _, _ = make_parser().parse_args_and_config(
            ["--num_episodes", "7", "--collection_policy", "random", "--collection_seed", "3", "--use_cpu"]
        )
    assert {str(w.message) for w in record} >= {
        "num_episodes is deprecated: use dataset_episodes.",
        "collection_policy is deprecated: use dataset_policy.",
        "collection_seed is deprecated: use dataset_seed.",
    }
    assert (env_args.dataset_episodes, env_args.dataset_policy, env_args.dataset_seed) == (7, "random", 3)
    assert env_args.num_episodes is None
    env_args, args, _ = make_parser().parse_args_and_config(["--dataset_episodes", "5", "--use_cpu", "--packing"])
    assert env_args.dataset_episodes == 5
    assert args.packing is True  # a bare flag still means true now that unset means "choose for me"


@pytest.mark.parametrize("index", range(2))
def test_rl_trainers_skip_the_unused_parameter_search_unless_asked(tmp_path, index):
    """GRPO and RLOO choose SFT's DDP settings: no unused-parameter search (transformers turns it on whenever
    activation checkpointing is off, as in the gridworld GRPO config) and no buffer broadcast; a set value is kept."""
    cls = rl_and_recipe_configs()[index]
    base = dict(output_dir=str(tmp_path), use_cpu=True, bf16=False, activation_checkpointing=False)
    chosen = cls(**base)
    assert chosen.ddp_find_unused_parameters is False and chosen.ddp_broadcast_buffers is False
    kept = cls(**base, ddp_find_unused_parameters=True, ddp_broadcast_buffers=True)
    assert kept.ddp_find_unused_parameters is True and kept.ddp_broadcast_buffers is True

"""The model a recipe trains: a checkpoint (``--model_name_or_path``, quantized for QLoRA if asked) or the embedded
tiny default, built locally from the recipe's own trajectories so that nothing is downloaded.

One implementation for ``recipes/sft.py``, ``recipes/grpo.py`` and ``recipes/dpo.py``; their argument classes
inherit ``RecipeArguments`` (the tiny model's size, and ``max_train_seconds``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mrlm_hf.callbacks import TimeLimitCallback

TINY_BASE = "tiny_base"


@dataclass
class TinyModelArguments:
    """The embedded default model, used when no ``model_name_or_path`` is given."""

    tiny_hidden_size: int = field(default=128, metadata={"help": "Embedded default model: hidden size."})
    tiny_num_layers: int = field(default=2, metadata={"help": "Embedded default model: layers."})
    tiny_vocab_size: int = field(default=512, metadata={"help": "Embedded default tokenizer: BPE vocabulary size."})


@dataclass
class RecipeArguments(TinyModelArguments):
    """What every recipe takes besides TRL's configs: the embedded default model, and a time limit."""

    max_train_seconds: float = field(
        default=0.0,
        metadata={
            "help": "Stop training after this many seconds (a job's time limit), saving a checkpoint unless "
            "save_strategy is 'no', then save, evaluate and report as after a full run; the summary's steps_done "
            "says where it stopped. 0: no limit."
        },
    )


def add_time_limit(trainer: Any, recipe: RecipeArguments) -> TimeLimitCallback | None:
    """Add ``TimeLimitCallback`` to ``trainer`` when the recipe was given ``max_train_seconds``."""
    from mrlm_hf.callbacks import TimeLimitCallback

    if recipe.max_train_seconds <= 0:
        return None
    callback = TimeLimitCallback(trainer, recipe.max_train_seconds)
    trainer.add_callback(callback)
    return callback


def trajectory_texts(*datasets: Iterable[dict[str, Any]]) -> list[str]:
    """Every observation, action and system prompt of the given trajectory datasets (a tokenizer's corpus)."""
    return [
        text
        for rows in datasets
        for row in rows
        for text in (*row["observations"], *row["actions"], row["system_prompt"])
    ]


def load_model_and_tokenizer(
    model_args: Any,
    tiny: TinyModelArguments,
    corpus: Callable[[], list[str]],
    *,
    seed: int,
    output_dir: str,
    state: Any,
    needs_path: bool = False,
) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for TRL's ``ModelConfig`` ``model_args``.

    Without ``model_name_or_path`` a tiny Qwen2-architecture model and a BPE tokenizer trained on ``corpus()`` are
    built. It is saved to ``output_dir/tiny_base`` and loaded back from there when loading must happen from a path:
    quantization (``--load_in_4bit``/``--load_in_8bit``) happens while loading, and ``needs_path`` covers trainers
    that build a reference model from the model's path (TRL's GRPO with ``beta > 0``)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import get_quantization_config

    from mrlm_hf.tiny import build_model, build_tokenizer

    if not model_args.model_name_or_path:
        tokenizer = build_tokenizer(corpus(), vocab_size=tiny.tiny_vocab_size)
        model = build_model(
            tokenizer,
            hidden_size=tiny.tiny_hidden_size,
            num_layers=tiny.tiny_num_layers,
            intermediate_size=4 * tiny.tiny_hidden_size,
            seed=seed,
        )
        if not (model_args.load_in_4bit or model_args.load_in_8bit or needs_path):
            return model, tokenizer
        model_args.model_name_or_path = str(Path(output_dir) / TINY_BASE)
        with state.main_process_first():
            if state.is_main_process:
                model.save_pretrained(model_args.model_name_or_path)
                tokenizer.save_pretrained(model_args.model_name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path, revision=model_args.model_revision)
    quantization = get_quantization_config(model_args)  # --load_in_4bit / --load_in_8bit (QLoRA, bitsandbytes)
    model = AutoModelForCausalLM.from_pretrained(
        model_args.model_name_or_path,
        revision=model_args.model_revision,
        dtype=model_args.dtype,
        attn_implementation=model_args.attn_implementation,
        quantization_config=quantization,
        device_map={"": state.local_process_index} if quantization is not None else None,
        # transformers 5.25 turns Hub kernels on by default here (read in its source, not run: its `kernels`
        # requirement is not installable where this was written); they are downloaded when the model is loaded onto
        # a GPU, and nothing may be downloaded at run time. The GPU path has its own fused kernels (Liger, varlen).
        use_kernels=False,
    )
    return model, tokenizer


def end_processes() -> None:
    """End a recipe's run: wait for every process, then tear the process group down. Left to interpreter shutdown,
    the collective backend's threads can abort a rank (``terminate called without an active exception``) after a run
    that succeeded."""
    from accelerate import PartialState

    state = PartialState()
    state.wait_for_everyone()
    state.destroy_process_group()


def untrained_start_note(model_args: Any, stage: str) -> str | None:
    """What to run instead when an RL or DPO recipe started from the untrained tiny default (None otherwise): such a
    model rarely writes a valid action, so its episodes seldom differ in return and held-out success stays near 0."""
    if model_args.model_name_or_path:
        return None
    return (
        f"{stage} started from an untrained tiny model, which rarely writes a valid action: there is little to "
        "prefer or reinforce, so held-out success stays near 0. This run shows the mechanics. For an agent that "
        "improves, run `python recipes/sft.py` first and pass `--model_name_or_path outputs/sft-default`."
    )


def save_trained_model(trainer: Any, tokenizer: Any, output_dir: str, *, merge_lora: bool = False) -> None:
    """Save the trained model in standard Hugging Face format (gathered from FSDP shards); with ``merge_lora`` (a
    peft model), also the base model with the adapter merged, in ``output_dir/merged``."""
    if trainer.is_fsdp_enabled:
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(output_dir)
    if not merge_lora:
        return
    if trainer.is_fsdp_enabled:  # the adapter is sharded: merge from the saved files instead
        raise SystemExit(
            f"The adapter is saved in {output_dir}. Under FSDP, merge it afterwards on one process: "
            "peft.AutoPeftModelForCausalLM.from_pretrained(output_dir).merge_and_unload().save_pretrained(...)."
        )
    merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
    if trainer.accelerator.is_main_process:
        merged.save_pretrained(Path(output_dir) / "merged")
        tokenizer.save_pretrained(Path(output_dir) / "merged")

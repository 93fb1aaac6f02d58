"""Online collection: every ``collect_every`` optimizer steps, play new episodes and train on them too.

How it works (``TrajectorySFTTrainer`` adds ``mrlm_hf.callbacks.OnlineCollectionCallback`` when ``collect_every > 0``):

1. The callback's ``on_step_end`` calls ``OnlineCollector.collect`` at steps N, 2N, ...
2. Every process plays ``collect_episodes / num_processes`` episodes with its own seeds (round ``k``, rank ``r``
   uses seeds ``ONLINE_SEED + (k * world + r) * n ...``), with the model being trained (``collect_policy='model'``),
   the environment's expert (``'expert'``) or a per-episode mix (``'mix'``). Each process writes what it plays as
   parquet shards under ``output_dir/online_trajectories/rank-<r>/`` as episodes finish.
3. The new trajectories of all processes are gathered, so every process holds the **same** buffer: the old
   trajectories plus the new, the oldest dropped beyond ``max_trajectories``, then ``filter_low_reward`` applied.
4. The buffer is re-tokenized and the training stream switches to it. The stream (``LiveExamples``) reshuffles the
   whole buffer with a seed that is the same on every process and each process takes its own interleaved share of
   that order, so the ranks see disjoint, consistent data (checked with two processes in tests/test_multiprocess.py).
5. A resumed run (``resume_from_checkpoint``) reloads every shard already on disk into the buffer.

Generation under FSDP needs every rank in every forward pass, which episodes of different lengths break: with
FSDP, use ``collect_policy='expert'`` (or collect between runs).
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import gather_object
from datasets import Dataset, concatenate_datasets, load_dataset

from mrlm_hf.data import TRAJECTORY_FEATURES, trajectory_stats
from mrlm_hf.policies import ExpertPolicy, TransformersPolicy
from mrlm_hf.rollout import collect_trajectories

logger = logging.getLogger(__name__)

#: Online episodes are seeded from here, away from offline collection (0, 1, ...) and evaluation seeds.
ONLINE_SEED = 10_000_000


class LiveExamples(torch.utils.data.IterableDataset):
    """An endless stream over the trainer's current tokenized buffer, reshuffled each pass.

    Every process draws the same permutation (same seed) and takes every ``world``-th example from position
    ``rank``, so the processes see disjoint shares of one consistent order. When the buffer is replaced, the stream
    starts a new pass over the new buffer at once."""

    def __init__(self, collector: OnlineCollector, seed: int, rank: int = 0, world: int = 1) -> None:
        self.collector, self.seed, self.passes = collector, seed, 0
        self.rank, self.world = rank, world

    def __iter__(self):
        while True:
            version, data = self.collector.version, self.collector.tokenized
            order = torch.randperm(len(data), generator=torch.Generator().manual_seed(self.seed + self.passes))
            self.passes += 1
            for index in order.tolist()[self.rank :: self.world]:
                if self.collector.version != version:
                    break
                yield data[index]


class OnlineCollector:
    """Holds the trajectory buffer of an online run and refreshes it with new episodes.

    ``trainer`` is the ``TrajectorySFTTrainer`` being trained; the collector uses its public ``args``,
    ``accelerator``, ``model``, ``processing_class`` and ``prepare_dataset`` (which tokenizes the buffer)."""

    def __init__(self, trainer: Any, trajectories: Dataset, env: Any, env_kwargs: dict | None) -> None:
        if env is None:
            raise ValueError(
                "Online collection (collect_every > 0) needs the environment: pass env=... to the trainer."
            )
        self.trainer, self.env, self.env_kwargs = trainer, env, env_kwargs or {}
        self.rounds = 0
        self.version = 0
        self.shard_root = Path(trainer.args.output_dir) / "online_trajectories"
        previous = self._load_shards()
        if previous is not None:
            logger.info("Resuming online collection: %d trajectories found in %s.", len(previous), self.shard_root)
            trajectories = concatenate_datasets([trajectories, previous])
        self.trajectories = self._trim(trajectories)
        self.tokenized = self._tokenize()

    def _load_shards(self) -> Dataset | None:
        files = sorted(self.shard_root.glob("rank-*/shard-*.parquet"))
        if not files:
            return None
        data = load_dataset("parquet", data_files=[str(f) for f in files], split="train", features=TRAJECTORY_FEATURES)
        world = self.trainer.accelerator.num_processes
        per_rank = max(1, self.trainer.args.collect_episodes // world)
        self.rounds = 1 + max((seed - ONLINE_SEED) // per_rank // world for seed in data["seed"])
        return data

    def _trim(self, trajectories: Dataset) -> Dataset:
        limit = self.trainer.args.max_trajectories
        if len(trajectories) > limit:  # drop the oldest
            trajectories = trajectories.select(range(len(trajectories) - limit, len(trajectories)))
        return trajectories

    def _tokenize(self) -> Dataset:
        return self.trainer.prepare_dataset(
            self.trajectories, self.trainer.processing_class, self.trainer.args, pack=False
        )

    def stream(self) -> LiveExamples:
        accelerator = self.trainer.accelerator
        return LiveExamples(self, self.trainer.args.seed, accelerator.process_index, accelerator.num_processes)

    def _policy(self, expert: bool):
        if expert:
            return ExpertPolicy()
        args = self.trainer.args
        model = self.trainer.accelerator.unwrap_model(self.trainer.model)
        return TransformersPolicy(
            model,
            self.trainer.processing_class,
            max_new_tokens=args.collect_max_new_tokens,
            temperature=args.collect_temperature,
        )

    def collect(self, global_step: int) -> dict[str, float]:
        """Play this round's episodes on every process (at optimizer step ``global_step``), share them, refresh the
        buffer; returns statistics."""
        args, accelerator = self.trainer.args, self.trainer.accelerator
        world, rank = accelerator.num_processes, accelerator.process_index
        per_rank = max(1, args.collect_episodes // world)
        seed = ONLINE_SEED + (self.rounds * world + rank) * per_rank
        rng = random.Random(seed)
        if args.collect_policy == "mix":
            num_expert = sum(rng.random() < args.collect_expert_fraction for _ in range(per_rank))
        else:
            num_expert = per_rank if args.collect_policy == "expert" else 0
        parts = []
        for expert, count, offset in ((True, num_expert, 0), (False, per_rank - num_expert, num_expert)):
            if count:
                parts.append(
                    collect_trajectories(
                        self.env,
                        self._policy(expert),
                        count,
                        env_kwargs=self.env_kwargs,
                        seed=seed + offset,
                        shard_dir=self.shard_root / f"rank-{rank}",
                        progress=accelerator.is_main_process,
                        metadata={"online_round": self.rounds, "global_step": global_step},
                    )
                )
        local = concatenate_datasets(parts) if len(parts) > 1 else parts[0]
        rows = gather_object(local.to_list()) if world > 1 else local.to_list()
        new = Dataset.from_list(rows, features=TRAJECTORY_FEATURES)
        self.rounds += 1
        self.trajectories = self._trim(concatenate_datasets([self.trajectories, new]))
        self.tokenized = self._tokenize()
        self.version += 1
        stats = trajectory_stats(new)
        return {
            "collect_success_rate": stats["success_rate"],
            "collect_mean_return": stats["mean_return"],
            "collect_episodes": stats["num_trajectories"],
            "buffer_trajectories": len(self.trajectories),
        }

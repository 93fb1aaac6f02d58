"""Batches of tokenized trajectories that keep each token's type (context / action / observation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling


@dataclass
class TrajectoryCollator(DataCollatorForLanguageModeling):
    """TRL's language-modeling collator (padded or padding-free, packed ``seq_lengths`` honoured) that also
    carries ``token_types``, padded with 0 (context) and aligned with ``input_ids`` and ``labels``."""

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        output = super().torch_call(examples)
        types = [torch.as_tensor(example["token_types"], dtype=torch.long) for example in examples]
        if self.padding_free:
            types = [torch.cat(types)]
        width = output["input_ids"].shape[1]
        token_types = torch.zeros((len(types), width), dtype=torch.long)
        for row, t in enumerate(types):
            token_types[row, : t.numel()] = t
        # Like the labels: the first token of each sequence is never a prediction target.
        token_types[output["labels"] == -100] = 0
        output["token_types"] = token_types
        return output

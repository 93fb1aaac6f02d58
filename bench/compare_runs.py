"""Compare result.json files of bench/distributed.py runs: loss-curve parity against a reference, and scaling.

python bench/compare_runs.py REFERENCE_DIR OTHER_DIR [OTHER_DIR ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def load(directory: str) -> dict:
    return json.loads((Path(directory) / "result.json").read_text())


def main() -> None:
    reference, others = load(sys.argv[1]), [load(d) for d in sys.argv[2:]]
    ref_losses = {int(k): v for k, v in reference["losses"].items()}
    print(
        f"reference: {reference['num_processes']} process(es), {reference['distributed_type']}, "
        f"{reference['tokens_per_s'] or 0:,.0f} tokens/s, peak {max(reference['peak_memory_gb_per_gpu']):.1f} GB"
    )
    for directory, run in zip(sys.argv[2:], others):
        losses = {int(k): v for k, v in run["losses"].items()}
        common = sorted(set(losses) & set(ref_losses))
        diffs = {
            key: max(abs(losses[s][key] - ref_losses[s][key]) / abs(ref_losses[s][key]) for s in common)
            for key in ("loss", "loss_bc", "loss_wm")
            if common and key in losses[common[0]]
        }
        speed = (run["tokens_per_s"] or 0) / (reference["tokens_per_s"] or 1)
        print(
            f"{directory}: {run['num_processes']} process(es), {run['distributed_type']}, steps {common[0]}-"
            f"{common[-1]}, max relative loss difference "
            + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items())
            + f"; {run['tokens_per_s'] or 0:,.0f} tokens/s = {speed:.2f}x reference; peak "
            f"{max(run['peak_memory_gb_per_gpu']):.1f} GB/GPU"
        )


if __name__ == "__main__":
    main()

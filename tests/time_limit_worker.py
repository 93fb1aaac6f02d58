"""Worker of tests/test_multiprocess.py: TimeLimitCallback under torchrun with clocks that disagree. Rank 0's time is
up at once, rank 1's never; both must stop together at the first step where they compare (sync_every), where a
decision taken alone would leave the other rank waiting in a collective.

    python -m torch.distributed.run --nproc_per_node 2 tests/time_limit_worker.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from accelerate import PartialState  # noqa: E402
from conftest import make_trainer  # noqa: E402

from mrlm_hf import ExpertPolicy, collect_trajectories  # noqa: E402
from mrlm_hf.callbacks import TimeLimitCallback  # noqa: E402
from mrlm_hf.models import end_processes  # noqa: E402

SYNC_EVERY = 3


def main(out: Path) -> None:
    state = PartialState()
    data = collect_trajectories("math", ExpertPolicy(), 8, progress=False)
    trainer = make_trainer(out, data, max_steps=8, per_device_train_batch_size=2)
    later = 1e9 if state.process_index == 0 else 0.0
    readings = iter([0.0])  # training begins at 0 on both; later readings: rank 0 is past the limit, rank 1 never
    limit = TimeLimitCallback(trainer, 1.0, sync_every=SYNC_EVERY, clock=lambda: next(readings, later))
    trainer.add_callback(limit)
    trainer.train()
    record = {"global_step": trainer.state.global_step, "stopped_at_step": limit.stopped_at_step}
    (out / f"rank-{state.process_index}.json").write_text(json.dumps(record))
    end_processes()


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""GRPO under DDP on 2 GPUs against 1 GPU at the same global batch (issue 13), measured against bf16's own noise.

Multi-turn GRPO with scripted, deterministic episodes (``tests/grpo_ddp_worker.py``: the same episodes whatever the
process layout), 3 optimizer steps of 8 episodes, run three ways through torchrun: one GPU in bf16 (batch 8), two
GPUs in bf16 (4 each), and one GPU in fp32. The per-step losses and gradient norms and the final weights of the DDP
run are compared with the one-GPU bf16 run; the yardstick is how far the one-GPU bf16 run is from fp32 (what bf16
alone moves them). With one update per rollout the GRPO loss is the advantages' mean (the importance ratio is 1),
so it matches whatever the precision; the gradient norms and weights are what tell. The CPU test
``tests/test_multiprocess.py`` checks the same in fp32 to 1e-4.

    python bench/grpo_ddp_parity.py --out results.json          # 2 GPUs of one host
    python bench/grpo_ddp_parity.py --out /tmp/p.json --cpu      # the same on CPU processes (a smoke test)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "grpo_ddp_worker.py"
RUNS = {"one_gpu_bf16": (1, 8, "bf16"), "two_gpus_bf16": (2, 4, "bf16"), "one_gpu_fp32": (1, 8, "fp32")}


def launch(folder: Path, processes: int, per_device: int, precision: str, gpu: bool, port: int) -> dict:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes)]
    cmd += ["--master_port", str(port), str(WORKER), str(folder), str(per_device), precision]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    if not gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    start = time.time()
    result = subprocess.run([*cmd, *(["--gpu"] if gpu else [])], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{folder.name} failed:\n{result.stderr[-4000:]}")
    record = json.loads((folder / "record.json").read_text())
    record["seconds"] = round(time.time() - start, 1)
    return record


def largest_difference(a: dict, b: dict) -> dict[str, float]:
    """Largest relative difference per step of the loss and the gradient norm, and largest absolute one of the
    recorded weights."""

    def relative(x: list[float], y: list[float]) -> float:
        return max(abs(p - q) / max(abs(q), 1e-8) for p, q in zip(x, y, strict=True))

    weights = max(abs(p - q) for name in a["weights"] for p, q in zip(a["weights"][name], b["weights"][name]))
    return {
        "loss_rel": relative(a["loss"], b["loss"]),
        "grad_norm_rel": relative(a["grad_norm"], b["grad_norm"]),
        "weights_abs": weights,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="JSON file to write.")
    parser.add_argument("--cpu", action="store_true", help="CPU processes (gloo) instead of GPUs.")
    parser.add_argument("--work", default=None, help="Folder for the runs' records (default: beside --out).")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    work = Path(args.work).resolve() if args.work else out.with_name(out.stem + "_runs")
    records = {}
    for i, (name, (processes, per_device, precision)) in enumerate(RUNS.items()):
        folder = work / name
        folder.mkdir(parents=True, exist_ok=True)
        records[name] = launch(folder, processes, per_device, precision, not args.cpu, 29700 + i)
        print(name, {k: records[name][k] for k in ("loss", "grad_norm", "seconds")}, flush=True)
    ddp = largest_difference(records["two_gpus_bf16"], records["one_gpu_bf16"])
    bf16 = largest_difference(records["one_gpu_bf16"], records["one_gpu_fp32"])
    result = {
        "device": "cpu" if args.cpu else torch.cuda.get_device_name(0),
        "date": time.strftime("%Y-%m-%d"),
        "command": " ".join(sys.argv),
        "ddp_vs_one_gpu": ddp,
        "bf16_vs_fp32": bf16,
        "within_bf16_noise": all(ddp[k] <= max(bf16[k], 1e-6) for k in ddp),
        "runs": records,
    }
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: result[k] for k in ("ddp_vs_one_gpu", "bf16_vs_fp32", "within_bf16_noise")}, indent=1))


if __name__ == "__main__":
    main()

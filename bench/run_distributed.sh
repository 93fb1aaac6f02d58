#!/usr/bin/env bash
# The multi-GPU runs behind bench/RESULTS.md (4 GPUs of one host). Usage: bash bench/run_distributed.sh OUT_DIR [PART]
# PART: parity (loss curves), scaling (same per-GPU batch, 1 vs 4 GPUs), parity (1/2/4 GPUs, DDP and FSDP2, 50 steps), resume (FSDP2 checkpoint + resume), big (3B under FSDP2,
# full and LoRA), nodes (two machines emulated on one host), recipe (the recipe under FSDP2 and DDP+LoRA).
set -u
out=${1:?output dir}; part=${2:-all}; mkdir -p "$out"; r=/tmp/mrlm-runs; mkdir -p $r
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
launch() { # config nproc outdir args...
  local cfg=$1 n=$2 name=$3; shift 3
  echo "== $name: $cfg x$n $*" | tee -a "$out/log.txt"
  timeout 300 accelerate launch --config_file accelerate_configs/$cfg.yaml --num_processes $n --main_process_port $((29500 + RANDOM % 1000)) \
    "$@" > "$out/$name.log" 2>&1; echo "   rc=$?" | tee -a "$out/log.txt"; grep RESULT "$out/$name.log" | tail -1 | tee -a "$out/log.txt"
}
if [[ $part == all || $part == parity ]]; then
  launch single_gpu 1 1gpu bench/distributed.py --ga 4 --out $r/1gpu
  launch multi_gpu 2 ddp2 bench/distributed.py --ga 2 --out $r/ddp2
  launch multi_gpu 4 ddp4 bench/distributed.py --out $r/ddp4
  launch fsdp2 4 fsdp4 bench/distributed.py --out $r/fsdp4
  python3 bench/compare_runs.py $r/1gpu $r/ddp2 $r/ddp4 $r/fsdp4 | tee -a "$out/log.txt"
  for d in 1gpu ddp2 ddp4 fsdp4; do cp $r/$d/result.json "$out/parity_$d.json"; done
fi
if [[ $part == all || $part == scaling ]]; then  # same per-GPU batch (8 rows), no accumulation, log every 10 steps
  launch single_gpu 1 scale1 bench/distributed.py --steps 60 --logging_steps 10 --warmup 20 --out $r/scale1
  launch multi_gpu 4 scale4 bench/distributed.py --steps 60 --logging_steps 10 --warmup 20 --out $r/scale4
  launch fsdp2 4 scale4_fsdp bench/distributed.py --steps 60 --logging_steps 10 --warmup 20 --out $r/scale4_fsdp
  python3 bench/compare_runs.py $r/scale1 $r/scale4 $r/scale4_fsdp 2>/dev/null | grep -o "[0-9,]* tokens/s[^;]*" | tee -a "$out/log.txt"
fi
if [[ $part == all || $part == resume ]]; then
  launch fsdp2 4 ck_full bench/distributed.py --steps 20 --save_steps 10 --out $r/ck
  launch fsdp2 4 ck_resumed bench/distributed.py --steps 20 --resume $r/ck/checkpoint-10 --out $r/ck_resumed
  ls $r/ck/checkpoint-10 | tee -a "$out/log.txt"
  python3 bench/compare_runs.py $r/ck $r/ck_resumed | tee -a "$out/log.txt"
  cp $r/ck_resumed/result.json "$out/resume.json"
fi
if [[ $part == all || $part == big ]]; then
  launch fsdp2 4 fsdp4_3b bench/distributed.py --shape 3b --steps 12 --per_device_batch 4 --warmup 4 --out $r/3b
  launch fsdp2 4 fsdp4_3b_lora bench/distributed.py --shape 3b --steps 12 --per_device_batch 4 --warmup 4 --lora --out $r/3b_lora
  cp $r/3b/result.json "$out/big_3b.json"; cp $r/3b_lora/result.json "$out/big_3b_lora.json"
fi
if [[ $part == all || $part == nodes ]]; then
  echo "== two nodes" | tee -a "$out/log.txt"
  for rank in 0 1; do
    CUDA_VISIBLE_DEVICES=$((2 * rank)),$((2 * rank + 1)) timeout 300 accelerate launch \
      --config_file accelerate_configs/fsdp2_two_nodes.yaml --num_processes 4 --machine_rank $rank \
      --main_process_ip 127.0.0.1 --main_process_port 29777 bench/distributed.py --steps 20 --out $r/nodes \
      > "$out/node$rank.log" 2>&1 &
  done
  wait; grep RESULT "$out/node0.log" | tee -a "$out/log.txt"
  python3 bench/compare_runs.py $r/ddp4 $r/nodes | tee -a "$out/log.txt"
fi
if [[ $part == all || $part == recipe ]]; then
  launch fsdp2 2 recipe_fsdp recipes/sft.py --config recipes/configs/sft_world_model.yaml --max_steps 30 \
    --eval_env_episodes 0 --output_dir $r/recipe_fsdp
  launch multi_gpu 4 recipe_ddp_lora recipes/sft.py --config recipes/configs/sft_world_model.yaml --max_steps 30 \
    --use_peft --lora_r 8 --lora_target_modules q_proj v_proj --merge_lora --output_dir $r/recipe_lora
  python3 - "$r" <<'PY' | tee -a "$out/log.txt"
import json, sys
from transformers import AutoModelForCausalLM
r = sys.argv[1]
for name in ("recipe_fsdp", "recipe_lora/merged"):
    model = AutoModelForCausalLM.from_pretrained(f"{r}/{name}")
    print(name, "loads with from_pretrained:", type(model).__name__, sum(p.numel() for p in model.parameters()))
print(json.dumps({k: v for k, v in json.load(open(f"{r}/recipe_fsdp/summary.json")).items() if "loss" in k}))
PY
fi

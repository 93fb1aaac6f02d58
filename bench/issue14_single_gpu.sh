#!/usr/bin/env bash
# Issue 14's single-GPU measurements in one go (one H200, under 8 minutes): rollouts against transformers' best paths
# at batch 256/512/128/64 (in that order of priority), end-to-end code-environment rollouts, and the cost-growth
# plot. Each step has its own time limit and writes its JSON as it goes, so a step cut short keeps what it measured.
#     OUT=/path/to/dir bash bench/issue14_single_gpu.sh          (from the repository root, PYTHONPATH=$PWD)
set -u
OUT=${OUT:?set OUT to the output directory}
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false
PY=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$OUT/gpu.txt" 2>&1
timeout "${ROLLOUT_S:-240}" $PY bench/rollout_throughput.py --batches ${BATCHES:-256 512 128 64} \
    --out "$OUT/rollouts_batches.json" > "$OUT/rollouts.log" 2>&1
echo "rollout_throughput rc=$?"
timeout "${AGENT_S:-100}" $PY bench/agent_rollouts.py --model bench --episodes 128 --num_envs 128 \
    --out "$OUT/agent_rollouts.json" > "$OUT/agent.log" 2>&1
echo "agent_rollouts rc=$?"
timeout "${SCALING_S:-120}" $PY bench/trajectory_scaling.py --model bench --trajectories 32 --max_steps 5 \
    --turns 2 8 32 64 --batch_sizes 2 8 --out "$OUT/scaling.json" --plot "$OUT/scaling.png" > "$OUT/scaling.log" 2>&1
echo "trajectory_scaling rc=$?"
grep -h '^batch \|^{"batch\|^model,\|^expert_code,\|^T=\|Error\|error' "$OUT"/rollouts.log "$OUT"/agent.log \
    "$OUT"/scaling.log | cut -c1-600 | tail -n 60

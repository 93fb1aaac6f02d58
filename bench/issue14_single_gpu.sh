#!/usr/bin/env bash
# Issue 14's single-GPU measurements in one go (one H200): training against TRL at its defaults and its best settings
# (torch.compile included), rollouts against transformers' best paths at batch 256/512/128/64, end-to-end
# code-environment rollouts, and the cost-growth plot. STEPS picks and orders them; each step has its own time limit
# and writes its JSON as it goes, so a step cut short keeps what it measured.
#     OUT=/path/to/dir bash bench/issue14_single_gpu.sh          (from the repository root, PYTHONPATH=$PWD)
#     STEPS="train rollouts" OUT=... bash bench/issue14_single_gpu.sh      (training then rollouts: at most 7.9 min)
#     STEPS=nonblocking OUT=... bash bench/issue14_single_gpu.sh           (blocking vs non-blocking copies: 9 min)
#     STEPS=compile OUT=... bash bench/issue14_single_gpu.sh               (our step compiled vs TRL's best: 9 min)
set -u
OUT=${OUT:?set OUT to the output directory}
STEPS=" ${STEPS:-train rollouts agent scaling} "
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false
PY=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$OUT/gpu.txt" 2>&1
if [[ $STEPS == *" train "* ]]; then
    # Each configuration a process of at most TRAIN_CONFIG_S, all of them within TRAIN_S (the rest marked skipped).
    timeout $(( ${TRAIN_S:-235} + 10 )) $PY bench/train_throughput.py --max_steps 30 --warmup 10 \
        --timeout_s "${TRAIN_CONFIG_S:-85}" --budget_s "${TRAIN_S:-235}" --out "$OUT/train.json" > "$OUT/train.log" 2>&1
    echo "train_throughput rc=$?"
fi
if [[ $STEPS == *" nonblocking "* ]]; then
    # Does copying batches without waiting for the GPU close the 12-14% of each step it idles? Ours and TRL + varlen,
    # each both ways, twice in alternating order after a warm-up run, with a 5-step profile after the timed steps.
    timeout $(( ${NONBLOCKING_S:-500} + 30 )) $PY bench/train_throughput.py --configs mrlm_gpu_defaults \
        mrlm_gpu_defaults_nonblocking trl_packed_varlen_liger trl_packed_varlen_liger_nonblocking --repeats 2 \
        --warm_machine --max_steps 40 --warmup 10 --profile --timeout_s 110 --budget_s "${NONBLOCKING_S:-500}" \
        --out "$OUT/train_nonblocking.json" > "$OUT/train_nonblocking.log" 2>&1
    echo "train_throughput (non-blocking) rc=$?"
fi
if [[ $STEPS == *" compile "* ]]; then
    # Our step under torch.compile (with Liger, and with compile fusing the norms itself) against TRL's compiled best.
    timeout $(( ${COMPILE_S:-500} + 30 )) $PY bench/train_throughput.py --configs mrlm_gpu_defaults \
        mrlm_gpu_defaults_compile trl_packed_flex_liger_compile mrlm_varlen_compile --warm_machine --max_steps 40 \
        --warmup 10 --profile --timeout_s 150 --budget_s "${COMPILE_S:-500}" --out "$OUT/train_compile.json" \
        > "$OUT/train_compile.log" 2>&1
    echo "train_throughput (compile) rc=$?"
fi
if [[ $STEPS == *" rollouts "* ]]; then
    # No measurement starts after ROLLOUT_BUDGET_S; the one running then may take up to ROLLOUT_S.
    timeout "${ROLLOUT_S:-225}" $PY bench/rollout_throughput.py --batches ${BATCHES:-256 512 128 64} \
        --budget_s "${ROLLOUT_BUDGET_S:-190}" --out "$OUT/rollouts_batches.json" > "$OUT/rollouts.log" 2>&1
    echo "rollout_throughput rc=$?"
fi
if [[ $STEPS == *" agent "* ]]; then
    # 512 episodes, 128 in flight: enough for 2 or 3 pipelined groups (with 128 every mode is one lockstep group).
    timeout "${AGENT_S:-300}" $PY bench/agent_rollouts.py --model bench --episodes 512 --num_envs 128 \
        --pipeline_groups 2 3 --out "$OUT/agent_rollouts.json" > "$OUT/agent.log" 2>&1
    echo "agent_rollouts rc=$?"
fi
if [[ $STEPS == *" scaling "* ]]; then
    timeout "${SCALING_S:-120}" $PY bench/trajectory_scaling.py --model bench --trajectories 32 --max_steps 5 \
        --turns 2 8 32 64 --batch_sizes 2 8 --out "$OUT/scaling.json" --plot "$OUT/scaling.png" > "$OUT/scaling.log" 2>&1
    echo "trajectory_scaling rc=$?"
fi
grep -h '^mrlm_\|^trl_\|^batch \|^{"batch\|^model,\|^expert_code,\|^T=\|Error\|error' "$OUT"/*.log | cut -c1-600 | tail -n 60

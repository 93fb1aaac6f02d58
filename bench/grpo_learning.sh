#!/usr/bin/env bash
# Run from the repository root: OUT=dir [LR= SFT_STEPS= RL_STEPS= BS= EVAL= SKIP_SCRATCH=1] bash bench/grpo_learning.sh
# SFT (BC, few steps) -> GRPO from SFT vs GRPO from scratch; math difficulty 1, two attempts; held-out seeds 1e6+.
set -x
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 TRL_EXPERIMENTAL_SILENCE=1 HF_HUB_OFFLINE=1
ENV='{"difficulty":1,"max_turns":2}'
T0=$(date +%s)
python3 recipes/sft.py --output_dir /tmp/sft --mode behavioral_cloning --env_kwargs "$ENV" --num_episodes 1024 \
  --max_steps ${SFT_STEPS:-200} --eval_env_episodes 0 --eval_world_model_transitions 0 --eval_strategy no --bf16 false > /tmp/sft.log 2>&1
echo "sft rc=$? $(( $(date +%s) - T0 ))s"; cp /tmp/sft/summary.json $OUT/sft_summary.json
COMMON="--env_kwargs $ENV --num_prompts 4096 --max_steps ${RL_STEPS:-100} --per_device_train_batch_size ${BS:-64} --num_generations 8 --max_completion_length 64 --max_turn_tokens 16 --learning_rate ${LR:-5e-5} --eval_episodes ${EVAL:-256} --bf16 false --logging_steps 10"
python3 recipes/grpo.py --model_name_or_path /tmp/sft --output_dir /tmp/grpo_sft $COMMON > /tmp/grpo_sft.log 2>&1 &
[ -z "$SKIP_SCRATCH" ] && python3 recipes/grpo.py --output_dir /tmp/grpo_scratch $COMMON > /tmp/grpo_scratch.log 2>&1 &
wait
echo "done $(( $(date +%s) - T0 ))s"
for r in grpo_sft $([ -z "$SKIP_SCRATCH" ] && echo grpo_scratch); do cp /tmp/$r/summary.json $OUT/${r}_summary.json; cp /tmp/$r/log_history.json $OUT/${r}_log.json; tail -c 1500 /tmp/$r.log; done
tail -c 800 /tmp/sft.log
cat $OUT/*summary.json

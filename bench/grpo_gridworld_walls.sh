# GRPO from the SFT model on gridworld with walls (difficulty 1), on a CPU: the run recorded in bench/RESULTS.md.
# Usage, from the repository root: bash bench/grpo_gridworld_walls.sh (writes sft/, grpo/ and the logs there).
set -x
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
G='{"size": 5, "difficulty": 1, "max_turns": 15}'
date
python recipes/sft.py --env_kwargs "$G" --output_dir ./sft --max_steps 300 --eval_env_episodes 128 > sft.log 2>&1
date
python recipes/grpo.py --model_name_or_path ./sft --env_name gridworld --env_kwargs "$G" --num_prompts 1024 --max_steps 120 --per_device_train_batch_size 32 --num_generations 8 --max_completion_length 640 --max_turn_tokens 6 --learning_rate 2e-4 --eval_episodes 128 --logging_steps 5 --output_dir ./grpo > grpo.log 2>&1
date

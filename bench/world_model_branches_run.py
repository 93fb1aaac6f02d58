# ruff: noqa
# The exact script run on the H200 for bench/results_world_model_branches_*.json (2026-12-01): the exact-match half of
# examples/world_model.py written inline (its branch rows equal collect_branches(E, RandomPolicy(0), k=3)).
# Usage: python bench/world_model_branches_run.py '{"steps": 3000, "seeds": [0]}'
import sys, random, json, os, time

sys.path.insert(0, "examples")
import proof_of_learning as p
from mrlm_hf import *
from mrlm_hf.data import to_transitions, TRANSITION_FEATURES
from mrlm_hf.envs.gridworld import GridWorldEnv, ACTIONS, transition
from mrlm_hf.preferences import replay
from mrlm_hf.evaluation import EVAL_SEED as V
from datasets import Dataset, concatenate_datasets as cat

C = p.TrajectorySFTConfig
p.TrajectorySFTConfig = lambda **k: C(**{**k, "use_cpu": os.environ.get("CPU") == "1"})
S = {**p.CLAIMS["gridworld-wm"], "output_dir": "/tmp/o"}
S.update(json.loads(sys.argv[1]))
g = S["env_kwargs"]
ct = lambda pol, n, s: collect_trajectories("gridworld", pol, n, env_kwargs=g, seed=s, progress=False)
E = ct(ExpertPolicy(), S["num_expert"], 0)
T = to_transitions(E)
q = random.Random(0)
B = []
env = GridWorldEnv(**g)
for r in T:
    replay(env, r["seed"], r["actions"])
    seen = {r["action"]}
    for a in [q.choice(ACTIONS) for _ in range(3)]:
        if a in seen:
            continue
        seen.add(a)
        t = transition(env.state, a)
        B.append(
            {
                **r,
                "action": a,
                "next_observation": t.observation,
                "reward": t.reward,
                "done": t.terminated,
                "terminated": t.terminated,
                "truncated": False,
                "return": t.reward,
            }
        )
B = Dataset.from_list(B, features=TRANSITION_FEATURES)
H = {"random": ct(RandomPolicy(V), 64, V), "expert": ct(ExpertPolicy(), 64, V)}
K = cat([E, ct(RandomPolicy(1), 50, S["num_expert"])])
out = {"settings": S, "data": {"expert_only": len(T), "expert_plus_branches": len(T) + len(B)}}
for seed in S["seeds"]:
    for name, d in (("expert_only", T), ("expert_plus_branches", cat([T, B]))):
        S["seed"] = seed
        tok, m = p.build(K, S)
        t0 = time.time()
        tr = p.train(m, tok, d, "world_model", S)
        out[f"{name}/seed{seed}"] = {
            k: evaluate_world_model(tr.model, tok, h, max_transitions=256, max_new_tokens=32)["wm_exact_match"]
            for k, h in H.items()
        } | {"s": round(time.time() - t0)}
        print(json.dumps(out), flush=True)
        open(os.environ.get("OUT", "/tmp") + "/wm.json", "w").write(json.dumps(out, indent=1))

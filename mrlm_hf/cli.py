"""The ``mrlm-hf`` command line: list environments, collect trajectories, train, evaluate, inspect and share.

    mrlm-hf envs                                  # environments, action formats, rewards
    mrlm-hf collect gridworld --episodes 200 --output traj/
    mrlm-hf train sft --config recipes/configs/sft_world_model.yaml --print
    mrlm-hf eval outputs/sft-default --env gridworld
    mrlm-hf inspect traj/ --tokenizer outputs/sft-default --mode combined
    mrlm-hf push traj/ user/gridworld-expert

Nothing heavy is imported at module level (torch, transformers, datasets load inside the subcommands), so
``mrlm-hf --help`` answers at once. The module is above ~500 lines because each of the six subcommands keeps its
parser (with a help text for every option) next to its few lines of work; each is a thin front to library functions.
"""

from __future__ import annotations

import argparse
import inspect as _inspect
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

# ---------------------------------------------------------------------------------------------------- helpers


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc.msg}): {text!r}; e.g. '{{\"size\": 5}}'") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object such as '{{\"size\": 5}}', got {text!r}")
    return value


def _hub_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Hub")
    group.add_argument("--private", action="store_true", help="Create the Hub repo as private.")
    group.add_argument(
        "--token", default=None, help="Hub token with write access (default: HF_TOKEN or the saved login)."
    )
    group.add_argument("--endpoint", default=None, help="Hub URL (default: HF_ENDPOINT, else https://huggingface.co).")


def _load_model(path: str):
    """A saved model directory (or a Hub model id) and its tokenizer; adapters (PEFT) load onto their base model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mrlm_hf.trainer import check_model_path

    check_model_path(path)
    if (Path(path) / "adapter_config.json").exists():
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(path)
    else:
        model = AutoModelForCausalLM.from_pretrained(path)
    return model.eval(), AutoTokenizer.from_pretrained(path)


def _quiet_datasets() -> None:
    """No ``datasets`` progress bars (map, filter, save) between this command's own output."""
    from datasets import disable_progress_bars

    disable_progress_bars()


def _load_trajectories(source: str):
    from mrlm_hf.data import load_trajectories

    return load_trajectories(source)  # a local path, or a Hub dataset id


# ---------------------------------------------------------------------------------------------------- envs
_SECTION = re.compile(r"^\s*(Rewards?|Actions?|Each action|The action)\b", re.IGNORECASE)


def _paragraphs(text: str | None) -> list[str]:
    text = _inspect.cleandoc(text or "")
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def describe_env(name: str) -> dict[str, Any]:
    """What ``mrlm-hf envs`` shows for one registered environment, read from its class and docstrings: summary,
    constructor arguments, action format, reward, system prompt and stop strings."""
    import importlib

    from mrlm_hf.envs.registry import _REGISTRY

    factory = _REGISTRY[name]
    module = importlib.import_module(factory.__module__)
    paragraphs = _paragraphs(getattr(module, "__doc__", "")) + _paragraphs(factory.__doc__)

    def find(kind: str) -> str | None:
        for i, paragraph in enumerate(paragraphs):  # a paragraph that opens with the word, else a sentence that does
            if _SECTION.match(paragraph) and paragraph.lower().startswith(kind):
                if paragraph.endswith("::") and i + 1 < len(paragraphs):  # an example block follows
                    paragraph = f"{paragraph[:-1]} {paragraphs[i + 1]}"
                return paragraph
        for paragraph in paragraphs:
            for sentence in re.split(r"(?<=[.:])\s+(?=[A-Z])", paragraph):
                if _SECTION.match(sentence) and sentence.lower().lstrip().startswith(kind):
                    return sentence
        return None

    try:
        signature = _inspect.signature(factory)
        arguments = {
            p.name: (None if p.default is _inspect.Parameter.empty else p.default)
            for p in signature.parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }
    except (TypeError, ValueError):
        arguments = {}
    action = find("action") or find("each action") or find("the action")
    system_prompt = getattr(factory, "system_prompt", None)
    return {
        "name": name,
        "class": f"{factory.__module__}.{getattr(factory, '__qualname__', factory)}",
        "summary": paragraphs[0] if paragraphs else "",
        "arguments": arguments,
        "action_format": action or (f"as the system prompt asks: {system_prompt}" if system_prompt else "free text"),
        "reward": find("reward") or "see the class docstring",
        "system_prompt": system_prompt,
        "stop_strings": list(getattr(factory, "stop_strings", ()) or ()),
    }


def cmd_envs(args: argparse.Namespace) -> int:
    from mrlm_hf.envs import list_envs

    names = args.names or list_envs()
    unknown = [n for n in names if n not in list_envs()]
    if unknown:
        print(f"Unknown environment(s) {unknown}; registered: {', '.join(list_envs())}.", file=sys.stderr)
        return 2
    described = [describe_env(n) for n in names]
    if args.json:
        print(json.dumps(described, indent=2, default=repr))
        return 0

    def clean(text: str) -> str:  # reST literals -> plain backticks; without --full, the first sentences only
        text = re.sub(r"^(Rewards?|Actions?):\s*", "", text.replace("``", "`"))
        if args.full or len(text) <= 240:
            return text
        cut = text.rfind(". ", 0, 240)
        return text[: cut + 1] + " [...]" if cut > 0 else text[:240] + " [...]"

    for env in described:
        env["action_format"], env["reward"] = clean(env["action_format"]), clean(env["reward"])
        print(f"{env['name']}  ({env['class']})")
        print(f"  {env['summary'].replace('``', '`')}")
        arguments = ", ".join(f"{k}={v!r}" for k, v in env["arguments"].items())
        print(f"  arguments: {arguments or '(none)'}")
        print(f"  action format: {env['action_format']}")
        print(f"  reward: {env['reward']}")
        if args.full:
            print(f"  system prompt: {env['system_prompt']!r}")
            print(f"  stop strings: {env['stop_strings']}")
        print()
    return 0


# ---------------------------------------------------------------------------------------------------- collect
def _make_policy(spec: str, seed: int, args: argparse.Namespace):
    from mrlm_hf.policies import ExpertPolicy, RandomPolicy

    if spec == "expert":
        return ExpertPolicy()
    if spec == "random":
        return RandomPolicy(seed)
    from mrlm_hf.policies import TransformersPolicy

    model, tokenizer = _load_model(spec)
    return TransformersPolicy(
        model,
        tokenizer,
        max_new_tokens=args.max_new_tokens,
        do_sample=args.temperature > 0,
        temperature=args.temperature if args.temperature > 0 else 1.0,
        seed=seed,
    )


def cmd_collect(args: argparse.Namespace) -> int:
    if not args.output and not args.hub_id:
        raise SystemExit("mrlm-hf collect: give --output PATH and/or --hub-id USER/NAME (where the data goes).")
    _quiet_datasets()
    from mrlm_hf.data import save_trajectories, trajectory_stats
    from mrlm_hf.rollout import collect_trajectories

    policy = _make_policy(args.policy, args.seed, args)
    data = collect_trajectories(
        args.env,
        policy,
        args.episodes,
        env_kwargs=args.env_kwargs,
        seed=args.seed,
        num_envs=args.num_envs,
        shard_dir=args.shard_dir,
        progress=not args.quiet,
    )
    stats = trajectory_stats(data)
    print(
        f"{stats['num_trajectories']} trajectories of {args.env} (seeds {args.seed}..{args.seed + args.episodes - 1}, "
        f"policy {args.policy}): success {100 * stats['success_rate']:.1f}%, mean return {stats['mean_return']:.3f}, "
        f"mean length {stats['mean_length']:.2f}"
    )
    if args.output:
        print(f"saved: {save_trajectories(data, args.output)}")
    if args.hub_id:
        from mrlm_hf.hub import push_trajectories

        url = push_trajectories(data, args.hub_id, token=args.token, endpoint=args.endpoint, private=args.private)
        print(f"pushed: {url}")
    return 0


# ---------------------------------------------------------------------------------------------------- train
def recipes_dir() -> Path:
    """The repository's ``recipes/`` folder, found next to the installed package (an editable install or a
    checkout); ``MRLM_RECIPES`` overrides it."""
    if os.environ.get("MRLM_RECIPES"):
        return Path(os.environ["MRLM_RECIPES"])
    return Path(__file__).resolve().parent.parent / "recipes"


def resolve_recipe(recipe: str) -> Path:
    """A recipe name (``sft``, ``dpo``: ``recipes/<name>.py``) or a path to a recipe script."""
    path = Path(recipe)
    if path.suffix == ".py" or path.exists():
        if not path.is_file():
            raise SystemExit(f"mrlm-hf train: no recipe script at {path}.")
        return path
    candidate = recipes_dir() / f"{recipe}.py"
    if not candidate.is_file():
        known = sorted(p.stem for p in recipes_dir().glob("*.py")) if recipes_dir().is_dir() else []
        raise SystemExit(
            f"mrlm-hf train: no recipe {recipe!r} in {recipes_dir()} (known: {', '.join(known) or 'none'}). Give a "
            "recipe name, a path to a recipe .py file, or set MRLM_RECIPES to the folder that holds them."
        )
    return candidate


def recipe_for_config(config: str | None) -> str:
    """The recipe a config belongs to, from its file name (``dpo.yaml`` -> ``dpo``, ``sft_gpu.yaml`` -> ``sft``);
    ``sft`` when nothing matches."""
    if config:
        stem = Path(config).stem
        for name in sorted((p.stem for p in recipes_dir().glob("*.py")), key=len, reverse=True):
            if stem == name or stem.startswith(f"{name}_"):
                return name
    return "sft"


def train_command(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """``(shown, executed)``: the ``accelerate launch`` (or ``python``) command line for a recipe and config, as
    printed for the user and as run (``python -m accelerate.commands.launch`` when ``accelerate`` is not on PATH)."""
    import shutil

    recipe = str(resolve_recipe(args.recipe or recipe_for_config(args.config)))
    if args.config and not Path(args.config).is_file():
        raise SystemExit(f"mrlm-hf train: no config file at {args.config}.")
    tail = [recipe, *(["--config", args.config] if args.config else []), *args.recipe_args]
    if args.launcher == "python":
        return ["python", *tail], [sys.executable, *tail]
    launch = []
    if args.num_processes:
        launch += ["--num_processes", str(args.num_processes)]
    if args.accelerate_config:
        launch += ["--config_file", args.accelerate_config]
    shown = ["accelerate", "launch", *launch, *tail]
    binary = shutil.which("accelerate")
    executed = [binary, "launch"] if binary else [sys.executable, "-m", "accelerate.commands.launch"]
    return shown, [*executed, *launch, *tail]


def cmd_train(args: argparse.Namespace) -> int:
    shown, executed = train_command(args)
    print(shlex.join(shown), flush=True)
    if args.print_only:
        return 0
    return subprocess.call(executed)


# ---------------------------------------------------------------------------------------------------- eval
def cmd_eval(args: argparse.Namespace) -> int:
    _quiet_datasets()
    from mrlm_hf.evaluation import EVAL_SEED, evaluate_policy, evaluate_world_model

    model, tokenizer = _load_model(args.model)
    results: dict[str, Any] = {"model": args.model, "env": args.env, "env_kwargs": args.env_kwargs}
    seed = EVAL_SEED if args.seed is None else args.seed
    if args.episodes > 0:
        stats = evaluate_policy(
            model,
            args.env,
            args.episodes,
            tokenizer=tokenizer,
            env_kwargs=args.env_kwargs,
            seed=seed,
            num_envs=args.num_envs,
            progress=not args.quiet,
            max_new_tokens=args.max_new_tokens,
        )
        results.update({f"env_{k}": v for k, v in stats.items()})
    if args.wm_transitions > 0:
        if args.wm_data:
            held_out = _load_trajectories(args.wm_data)
        else:  # held out by construction: expert episodes on the evaluation seeds
            from mrlm_hf.policies import ExpertPolicy
            from mrlm_hf.rollout import collect_trajectories

            held_out = collect_trajectories(
                args.env, ExpertPolicy(), args.wm_episodes, env_kwargs=args.env_kwargs, seed=seed, progress=False
            )
        results.update(
            evaluate_world_model(
                model, tokenizer, held_out, max_transitions=args.wm_transitions, max_new_tokens=args.max_new_tokens
            )
        )
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"{args.model} on {args.env} {json.dumps(args.env_kwargs)}, evaluation seeds from {seed}")
        for key, value in results.items():
            if key.startswith(("env_", "wm_")) and key != "env_kwargs":
                percent = isinstance(value, float) and any(w in key for w in ("rate", "match", "accuracy"))
                shown = f"{100 * value:.1f}%" if percent else f"{value:.4g}" if isinstance(value, float) else value
                print(f"  {key:<24} {shown}")
    return 0


# ---------------------------------------------------------------------------------------------------- inspect
_ANSI = {"context": "\033[2m", "action": "\033[1;30;42m", "observation": "\033[1;30;46m", "reset": "\033[0m"}
_MARKERS = {"action": ("[[A: ", "]]"), "observation": ("[[O: ", "]]")}


def render_tokens(tokenizer: Any, input_ids: list[int], token_types: list[int], color: bool) -> str:
    """The decoded tokens, runs of the same type together: trained action tokens and observation tokens highlighted
    (ANSI background colours), or wrapped in ``[[A: ...]]`` / ``[[O: ...]]`` markers when ``color`` is False;
    context tokens as they are (dimmed in colour)."""
    from mrlm_hf.tokenize import TOKEN_TYPE_NAMES

    out, start = [], 0
    for i in range(1, len(input_ids) + 1):
        if i < len(input_ids) and token_types[i] == token_types[start]:
            continue
        kind = TOKEN_TYPE_NAMES[token_types[start]]
        text = tokenizer.decode(input_ids[start:i], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if color:
            out.append(f"{_ANSI[kind]}{text}{_ANSI['reset']}")
        elif kind in _MARKERS:
            out.append(f"{_MARKERS[kind][0]}{text}{_MARKERS[kind][1]}")
        else:
            out.append(text)
        start = i
    return "".join(out)


def cmd_inspect(args: argparse.Namespace) -> int:
    _quiet_datasets()
    from transformers import AutoTokenizer

    from mrlm_hf.tokenize import TOKEN_TYPE_NAMES, tokenize_trajectories

    data = _load_trajectories(args.data)
    if not 0 <= args.row < len(data):
        raise SystemExit(f"mrlm-hf inspect: row {args.row} is out of range; {args.data} has {len(data)} rows.")
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    examples, dropped = tokenize_trajectories(
        data.select([args.row]), tokenizer, args.mode, args.max_length, args.layout
    )
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty() and not os.environ.get("NO_COLOR"))
    legend = (
        f"{_ANSI['action']}action{_ANSI['reset']} {_ANSI['observation']}observation{_ANSI['reset']} "
        f"{_ANSI['context']}context (not trained){_ANSI['reset']}"
        if color
        else "[[A: trained action]] [[O: trained observation]], everything else is context (not trained)"
    )
    print(f"row {args.row} of {args.data}, mode {args.mode}, layout {args.layout}, tokenizer {args.tokenizer}")
    print(legend)
    for k, example in enumerate(examples):
        types = example["token_types"]
        counts = ", ".join(f"{TOKEN_TYPE_NAMES[t]} {types.count(t)}" for t in sorted(TOKEN_TYPE_NAMES))
        print(f"\n--- example {k + 1}/{len(examples)}: {len(types)} tokens ({counts})")
        print(render_tokens(tokenizer, example["input_ids"], types, color))
    if dropped:
        print(f"\n{dropped} example(s) dropped: their targets exceed --max-length {args.max_length}.")
    return 0


# ---------------------------------------------------------------------------------------------------- push
def cmd_push(args: argparse.Namespace) -> int:
    _quiet_datasets()
    from mrlm_hf import hub

    path = Path(args.path)
    kind = args.type
    if kind == "auto":
        kind = "model" if (path / "config.json").exists() or (path / "adapter_config.json").exists() else "dataset"
    if kind == "model":
        url = hub.push_model(path, args.repo_id, token=args.token, endpoint=args.endpoint, private=args.private)
    else:
        data = _load_trajectories(args.path)
        url = hub.push_trajectories(data, args.repo_id, token=args.token, endpoint=args.endpoint, private=args.private)
    print(f"pushed {kind}: {url}")
    return 0


# ---------------------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(
        prog="mrlm-hf",
        description="Text environments -> trajectory datasets -> agents trained with TRL. "
        "Each subcommand has its own --help.",
        formatter_class=fmt,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "envs",
        help="List environments with their arguments, action formats and rewards.",
        description="List the registered environments (mrlm_hf.envs), read from their classes and docstrings.",
        formatter_class=fmt,
    )
    p.add_argument("names", nargs="*", help="Environments to show (default: all registered).")
    p.add_argument("--full", action="store_true", help="Also show the system prompt and stop strings.")
    p.add_argument("--json", action="store_true", help="Print JSON instead of text.")
    p.set_defaults(func=cmd_envs)

    p = sub.add_parser(
        "collect",
        help="Play episodes with a policy and save (or push) the trajectory dataset.",
        description="Collect trajectories: episode i is reset with seed + i, so the same arguments give the same data.",
        formatter_class=fmt,
    )
    p.add_argument("env", help="Registered environment name (see `mrlm-hf envs`).")
    p.add_argument(
        "--policy",
        default="expert",
        help="'expert' (the environment's scripted expert), 'random' (its random baseline), or a saved model "
        "directory / Hub model id (sampled with its chat template).",
    )
    p.add_argument("--episodes", type=int, default=100, help="Number of episodes.")
    p.add_argument("--seed", type=int, default=0, help="Seed of episode 0 (episode i uses seed + i).")
    p.add_argument(
        "--env-kwargs", type=_json_object, default={}, help="Constructor arguments as JSON, e.g. '{\"size\": 5}'."
    )
    p.add_argument("--num-envs", type=int, default=32, help="Environments stepped in lockstep (a model's batch).")
    p.add_argument("--output", "-o", default=None, help="Save here: a directory (Arrow), *.parquet or *.jsonl.")
    p.add_argument("--hub-id", default=None, help="Also push to this Hub dataset repo (user/name) with a dataset card.")
    p.add_argument("--shard-dir", default=None, help="Write parquet shards here as episodes finish (resumable).")
    p.add_argument("--max-new-tokens", type=int, default=128, help="Model policy: tokens per action.")
    p.add_argument("--temperature", type=float, default=1.0, help="Model policy: sampling temperature (0: greedy).")
    p.add_argument("--quiet", action="store_true", help="No progress bar.")
    _hub_options(p)
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser(
        "train",
        help="Run (or print) `accelerate launch recipes/<recipe>.py --config ...`.",
        description="A thin front to the recipes: builds the accelerate launch command for a recipe and a config, "
        "prints it and runs it. Arguments after `--` go to the recipe (e.g. -- --max_steps 10).",
        formatter_class=fmt,
    )
    p.add_argument(
        "recipe",
        nargs="?",
        default=None,
        help="Recipe name in recipes/ (sft, dpo, ...) or a .py path; default: from the config's file name "
        "(dpo.yaml -> dpo, sft_gpu.yaml -> sft), else sft.",
    )
    p.add_argument("--config", "-c", default=None, help="The recipe's YAML config (e.g. recipes/configs/sft_gpu.yaml).")
    p.add_argument("--num-processes", type=int, default=None, help="Processes (GPUs) for accelerate launch.")
    p.add_argument("--accelerate-config", default=None, help="An `accelerate config` file (FSDP, DeepSpeed, ...).")
    p.add_argument(
        "--launcher",
        choices=("accelerate", "python"),
        default="accelerate",
        help="accelerate launch, or plain python (one process).",
    )
    p.add_argument("--print", dest="print_only", action="store_true", help="Only print the command; do not run it.")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "eval",
        help="Success rate of a saved model on an environment; world-model exact match.",
        description="Play held-out episodes with a saved model (greedy) and score its next-observation predictions "
        "on held-out transitions.",
        formatter_class=fmt,
    )
    p.add_argument("model", help="Saved model directory (save_pretrained / a recipe's output_dir) or Hub model id.")
    p.add_argument("--env", required=True, help="Registered environment name.")
    p.add_argument("--env-kwargs", type=_json_object, default={}, help="Constructor arguments as JSON.")
    p.add_argument("--episodes", type=int, default=64, help="Episodes to play (0: skip the success rate).")
    p.add_argument(
        "--seed", type=int, default=None, help="First evaluation seed (default: 1000000, far from training)."
    )
    p.add_argument("--num-envs", type=int, default=64, help="Episodes played in one batch.")
    p.add_argument("--max-new-tokens", type=int, default=64, help="Tokens per generated action or observation.")
    p.add_argument("--wm-transitions", type=int, default=32, help="Transitions to score the world model on (0: skip).")
    p.add_argument(
        "--wm-data",
        default=None,
        help="Trajectories (path or Hub id) whose transitions are scored; default: expert episodes on the eval seeds.",
    )
    p.add_argument("--wm-episodes", type=int, default=8, help="Expert episodes collected when --wm-data is not given.")
    p.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
    p.add_argument("--quiet", action="store_true", help="No progress bar.")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "inspect",
        help="Show a trajectory row as tokens, with the tokens each mode trains highlighted.",
        description="Tokenize one trajectory exactly as training does (mrlm_hf.tokenize) and print it: trained action "
        "tokens and observation tokens highlighted in colour on a terminal, or marked [[A: ...]] / [[O: ...]].",
        formatter_class=fmt,
    )
    p.add_argument("data", help="Trajectory dataset: a path (save_trajectories output) or a Hub dataset id.")
    p.add_argument("--tokenizer", "-t", required=True, help="Tokenizer directory or Hub id (with a chat template).")
    p.add_argument("--row", type=int, default=0, help="Row index to show.")
    p.add_argument(
        "--mode",
        choices=("behavioral_cloning", "world_model", "combined"),
        default="combined",
        help="Training mode: which tokens are targets.",
    )
    p.add_argument(
        "--layout",
        choices=("auto", "trajectory", "transition"),
        default="auto",
        help="One sequence per trajectory, one example per step, or trajectory when it fits.",
    )
    p.add_argument("--max-length", type=int, default=1024, help="Token limit per example (as in training).")
    p.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="ANSI colours: on a terminal (auto, unless NO_COLOR is set), always, or never (plain markers).",
    )
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser(
        "push",
        help="Upload a trajectory dataset or a model directory to the Hub, with a generated card.",
        description="Upload to the Hugging Face Hub: a model directory gets a model card (mode, weights, data, "
        "evaluation, learning curve from summary.json / learning_curve.png), trajectories a dataset card.",
        formatter_class=fmt,
    )
    p.add_argument("path", help="A model directory (has config.json) or trajectories (directory, parquet, jsonl).")
    p.add_argument("repo_id", help="Hub repo to create or update (user/name).")
    p.add_argument(
        "--type",
        choices=("auto", "model", "dataset"),
        default="auto",
        help="What PATH holds (auto: a model when it has config.json or adapter_config.json).",
    )
    _hub_options(p)
    p.set_defaults(func=cmd_push)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mrlm-hf`` console script. For ``train``, everything after ``--`` goes to the recipe."""
    argv = list(sys.argv[1:] if argv is None else argv)
    recipe_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, recipe_args = argv[:cut], argv[cut + 1 :]
    args = build_parser().parse_args(argv)
    if recipe_args and args.command != "train":
        raise SystemExit(f"mrlm-hf {args.command}: arguments after '--' are only for `mrlm-hf train`.")
    args.recipe_args = recipe_args
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

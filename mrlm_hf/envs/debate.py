"""``debate``: two or more agents argue for and against a motion over several rounds; a judge names the winner.

The learning agent is ``agent_0``: its speeches are the ``env.step`` actions. The other agents are driven by the
``opponent`` policy (any ``policy(conversations, envs) -> list[str]`` callable; by default ``ScriptedDebater``,
which argues its side with the topic's own points). Passing a model policy as ``opponent`` gives self-play. Sides
alternate: ``agent_0`` gets pro or con (drawn from the seed, or ``reset(options={"side": ...})``), ``agent_1`` the
other side, ``agent_2`` the same side as ``agent_0``, and so on. Every agent is judged individually.

Protocol: each round ``agent_0`` speaks first, then all other agents answer at once (one batched ``opponent``
call; agent ``k`` sees ``agent_0``'s speech of this round and the others' speeches of the previous round). An
episode has ``num_rounds`` steps; after the last round the judge decides and the episode terminates. (With
``max_turns < num_rounds`` the debate is cut short, judged, and reported as truncated.) Speeches are read up to
``CHAR_CAP`` characters; other debaters and the judges see the same cut text.

Observation (``agent_0``): the motion, its side and the other debaters (first turn), then each round the others'
latest speeches and the round number; the final observation adds the verdict. Actions: free text (a speech).
Step ``info``: ``task_id`` (``debate-<topic>-<side>``), ``parsed_action`` (the speech, cut to 300 characters;
``None`` if blank), ``error`` (``"empty"``, ``"too_long"`` or ``None``), ``success`` (won), ``round``, and what
the speech earned: ``points``, ``rebuttals`` (point keys), ``penalty`` and the running rule ``score``.

Topics: ``BUILTIN_TOPICS`` holds 32 motions (data in ``envs/data/debate_topics.jsonl``), each with five points
for each side. A point has an argument sentence, a short name, and two or three keyword groups; a sentence *makes*
a point when it contains words of at least two of its groups (two distinct words). ``topic_set`` may also be a
list of built-in topic ids and/or custom topics (dicts, see ``parse_topic``).

Judges: the rule judge (``judge="rule"``, ``DebateScorer``) and the model judge (``judge="model"``,
``parse_judge_verdict``) live in ``mrlm_hf.envs.debate_judge``, whose docstring states the scoring rules.

Rewards: at the end, +1 for a win, 0 for a draw (tied at the top, or a model judge's draw), -1 for a loss. With
``shaping > 0`` each speech also earns ``shaping * (the change of the speaker's own rule score caused by that
speech)``: new points and rebuttals are positive, repetition/padding negative, and the positive part is bounded by
the topic's points, so it cannot be farmed (default ``shaping=0``: outcome reward only).

Multi-agent records: the final step's ``info["agent_trajectories"]`` has one dict per other agent
(``agent_id``, ``role``, ``system_prompt``, ``observations`` (one more than ``actions``: the last one carries the
verdict), ``actions``, ``rewards``, ``success``), so one episode yields a trajectory per agent; ``reset`` info has
``agent_id`` ("agent_0") and ``role`` ("pro"/"con"). Final info also has ``scores`` (rule scores by agent),
``score_details`` and ``verdict``.

Scripted opponent (``ScriptedDebater``, also ``env.scripted_action()``): one new point per speech (two with
probability 0.35) in a seeded random order, plus a rebuttal of the latest opposing point with probability 0.4.
Expert (``env.expert_action()``; ``DebateAgentView.expert_action()`` for the others): two new points per speech in
the topic's order (restated in its own words if a teammate already used the sentence) plus a rebuttal of each
opposing point it has not answered yet. Against the scripted opponent it wins about 99% of episodes under the
rule judge (2 to 4 agents), although the other side always has the last word; a random ``sample_action`` wins
almost never.

This module is longer than ~500 lines because ``DebateEnv`` drives several agents at once (turn order, batched
opponent calls, per-agent views, records, expert and scripted speeches); judging and topic data live elsewhere.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from mrlm_hf.envs.base import TextEnv, coerce_action
from mrlm_hf.envs.data import read_jsonl
from mrlm_hf.envs.debate_judge import (
    CHAR_CAP,
    JUDGE_SYSTEM_PROMPT,
    MAX_REBUTTALS_PER_TURN,
    REWARD_DRAW,
    REWARD_LOSS,
    REWARD_WIN,
    SIDES,
    DebateScorer,
    Point,
    Topic,
    cut_speech,
    parse_judge_verdict,
    parse_topic,
    rule_verdict,
)
from mrlm_hf.envs.registry import register_env

__all__ = [
    "BUILTIN_TOPICS",
    "DebateAgentView",
    "DebateEnv",
    "DebateScorer",
    "Point",
    "ScriptedDebater",
    "Topic",
    "list_topics",
    "parse_judge_verdict",
    "parse_topic",
    "rule_verdict",
]

#: Characters of an action kept in ``info["parsed_action"]``.
PARSED_ACTION_CHARS = 300
_SIDE_WORDS = {"pro": "for", "con": "against"}


# ============================================================================================= scripted debaters
_REBUTTAL_TEMPLATES = (
    "{Name} points to {opp}, but that ignores {own}.",
    "The point about {opp} is overstated, because it does not weigh {own}.",
    "Even granting {opp}, it does not outweigh {own}.",
    "{Name} emphasises {opp}, yet overlooks {own}.",
)
_SCRIPTED_REBUTTAL = "I disagree that {opp} is decisive, because {own} matters more."
_RESTATEMENT = "{short} is another good ground to {word} the motion."
_SCRIPTED_LEADS = ("", "Consider this: ", "Remember: ", "Moreover: ")


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


class DebateAgentView:
    """What an opponent policy receives as the environment of one non-learning agent: ``expert_action()``,
    ``scripted_action()``, ``sample_action(rng)`` for that agent, plus ``system_prompt`` and ``stop_strings``
    (so ``ExpertPolicy`` and model policies work as opponents)."""

    name = "debate"

    def __init__(self, env: DebateEnv, agent: int) -> None:
        self.env, self.agent = env, agent
        self.agent_id = f"agent_{agent}"
        self.system_prompt = env.system_prompt
        self.stop_strings = env.stop_strings

    @property
    def role(self) -> str:
        return self.env.sides[self.agent]

    def expert_action(self) -> str:
        return self.env.expert_action_for(self.agent)

    def scripted_action(self) -> str:
        return self.env.scripted_action_for(self.agent)

    def sample_action(self, rng: random.Random) -> str:
        return self.env.sample_action_for(self.agent, rng)


class ScriptedDebater:
    """The default opponent: argues its side with one or two of the topic's points per speech (in a seeded random
    order) and now and then rebuts a point of the other side. Needs the environments (``DebateAgentView`` or
    ``DebateEnv``), like ``ExpertPolicy``."""

    name = "scripted_debater"

    def __call__(self, conversations: list[list[dict[str, str]]], envs: Sequence[Any] | None = None) -> list[str]:
        if envs is None:
            raise ValueError("ScriptedDebater needs the environments (it reads the debate state).")
        return [env.scripted_action() for env in envs]


# ============================================================================================= environment
class DebateEnv(TextEnv):
    """A debate between ``num_agents`` agents over ``num_rounds`` rounds; ``agent_0`` is the learner.

    Args:
        num_agents: debaters (>= 2); sides alternate starting from ``agent_0``'s side.
        num_rounds: speeches per agent (one ``step`` each for ``agent_0``).
        topic_set: ``"builtin"`` (all ``BUILTIN_TOPICS``) or a list of built-in topic ids and/or topic dicts
            (see ``parse_topic``).
        opponent: policy for the other agents (``None`` or ``"scripted"``: ``ScriptedDebater``). ``config``
            records a callable as ``"<policy>"``; pass it again to recreate the environment.
        judge: ``"rule"`` (``DebateScorer``) or ``"model"`` (``judge_policy`` names the winner).
        judge_policy: policy for the model judge.
        shaping: scale of the per-speech shaping reward (0 disables it).
        max_turns: defaults to ``num_rounds``; a smaller value cuts the debate short (truncated, still judged).

    See the module docstring for the protocol, the judges and the rewards.
    """

    name = "debate"
    system_prompt = (
        "You are a debater. You get a motion, your side (for or against it) and the other debaters' latest "
        "speeches. Each turn, write a short speech of a few complete sentences: make new, distinct points for your "
        "side and rebut the other side's points by naming them and saying why your side's considerations outweigh "
        "them. The judge rewards distinct relevant points and rebuttals; repeated sentences, keyword lists, "
        f"off-topic text and speeches over {CHAR_CAP} characters are penalised."
    )
    stop_strings = ()

    def __init__(
        self,
        num_agents: int = 2,
        num_rounds: int = 3,
        topic_set: str | Sequence[str | dict[str, Any]] = "builtin",
        opponent: Callable[..., list[str]] | str | None = None,
        judge: str = "rule",
        judge_policy: Callable[..., list[str]] | str | None = None,
        shaping: float = 0.0,
        max_turns: int | None = None,
    ) -> None:
        if isinstance(num_agents, bool) or not isinstance(num_agents, int) or num_agents < 2:
            raise ValueError(f"num_agents must be an int >= 2, got {num_agents!r}")
        if isinstance(num_rounds, bool) or not isinstance(num_rounds, int) or num_rounds < 1:
            raise ValueError(f"num_rounds must be an int >= 1, got {num_rounds!r}")
        super().__init__(max_turns=num_rounds if max_turns is None else max_turns)
        if judge not in ("rule", "model"):
            raise ValueError(f"judge must be 'rule' or 'model', got {judge!r}")
        for label, policy in (("opponent", opponent), ("judge_policy", judge_policy)):
            if isinstance(policy, str) and not (label == "opponent" and policy == "scripted"):
                raise TypeError(
                    f"{label} must be a policy callable{' or None/scripted' if label == 'opponent' else ' or None'}, "
                    f"got the string {policy!r}; a config's '<policy>' marker means the policy has to be passed again."
                )
            if policy is not None and not isinstance(policy, str) and not callable(policy):
                raise TypeError(f"{label} must be callable, got {type(policy).__name__}")
        if judge == "model" and judge_policy is None:
            raise ValueError("judge='model' needs a judge_policy.")
        if not isinstance(shaping, int | float) or isinstance(shaping, bool) or not shaping >= 0:
            raise ValueError(f"shaping must be a number >= 0, got {shaping!r}")
        self.num_agents, self.num_rounds = num_agents, num_rounds
        self.topic_set = topic_set
        self.topics = self._load_topics(topic_set)
        self.opponent = ScriptedDebater() if opponent is None or isinstance(opponent, str) else opponent
        self._opponent_is_scripted = opponent is None or isinstance(opponent, str)
        self.judge, self.judge_policy = judge, judge_policy
        self.shaping = float(shaping)
        self._max_turns_arg = max_turns
        self.views = [DebateAgentView(self, a) for a in range(num_agents)]
        # Episode state (set by reset).
        self.topic: Topic | None = None
        self.sides: list[str] = []
        self.scorer: DebateScorer | None = None
        self.task_id: str | None = None
        self.transcript: list[tuple[int, int, str]] = []  # (round, agent, speech as read)
        self.records: list[dict[str, Any]] = []  # per agent: observations, actions, rewards
        self._orders: list[list[int]] = []
        self._last_seen: list[int] = []

    # ------------------------------------------------------------------ configuration
    @staticmethod
    def _load_topics(topic_set: Any) -> list[Topic]:
        if isinstance(topic_set, str):
            if topic_set != "builtin":
                raise ValueError(f"topic_set must be 'builtin' or a list of topics, got {topic_set!r}")
            return list(BUILTIN_TOPICS.values())
        if not isinstance(topic_set, list | tuple) or not topic_set:
            raise ValueError("topic_set must be 'builtin' or a non-empty list of topic ids / topic dicts.")
        topics = []
        for item in topic_set:
            if isinstance(item, str):
                if item not in BUILTIN_TOPICS:
                    raise ValueError(f"Unknown topic {item!r}; built-in topics: {', '.join(BUILTIN_TOPICS)}")
                topics.append(BUILTIN_TOPICS[item])
            else:
                topics.append(parse_topic(item))
        if len({t.id for t in topics}) != len(topics):
            raise ValueError("Topic ids in topic_set must be unique.")
        return topics

    @property
    def config(self) -> dict[str, Any]:
        return {
            "num_agents": self.num_agents,
            "num_rounds": self.num_rounds,
            "topic_set": self.topic_set if isinstance(self.topic_set, str) else list(self.topic_set),
            "opponent": "scripted" if self._opponent_is_scripted else "<policy>",
            "judge": self.judge,
            "judge_policy": None if self.judge_policy is None else "<policy>",
            "shaping": self.shaping,
            "max_turns": self._max_turns_arg,
        }

    # ------------------------------------------------------------------ helpers
    @property
    def rounds_to_play(self) -> int:
        return min(self.num_rounds, self.max_turns)

    def _label(self, agent: int) -> str:
        return f"agent_{agent} ({self.sides[agent]})"

    def _phase(self, round_number: int, agent: int) -> int:
        return 2 * (round_number - 1) + (0 if agent == 0 else 1)

    def _require_episode(self) -> tuple[Topic, DebateScorer]:
        if self.topic is None or self.scorer is None:
            raise RuntimeError("DebateEnv: call reset() first.")
        return self.topic, self.scorer

    def _intro(self, agent: int) -> str:
        topic, _ = self._require_episode()
        side = self.sides[agent]
        others = ", ".join(
            f"agent_{a} ({_SIDE_WORDS[self.sides[a]]}, {self.sides[a]})" for a in range(self.num_agents) if a != agent
        )
        order = (
            "in each round you speak first, then the others reply"
            if agent == 0
            else "in each round agent_0 speaks first, then you and the other debaters reply"
        )
        return (
            f"Motion: {topic.motion}\n"
            f"You are agent_{agent} and argue {_SIDE_WORDS[side].upper()} the motion ({side}). "
            f"{'Opponent' if self.num_agents == 2 else 'Other debaters'}: {others}.\n"
            f"The debate has {self.rounds_to_play} round{'s' if self.rounds_to_play != 1 else ''}; {order}."
        )

    def _speeches_since(self, agent: int) -> list[str]:
        """The other agents' speeches this agent has not seen yet (marks them seen)."""
        start = self._last_seen[agent]
        self._last_seen[agent] = len(self.transcript)
        return [
            f"[{self._label(a)}]: {text or '(no argument)'}" for _, a, text in self.transcript[start:] if a != agent
        ]

    def _turn_prompt(self, agent: int, round_number: int) -> str:
        word = _SIDE_WORDS[self.sides[agent]]
        if round_number == 1 and agent == 0:
            return f"Round 1 of {self.rounds_to_play}: give your opening speech {word} the motion."
        return (
            f"Round {round_number} of {self.rounds_to_play}: your turn. Make new points {word} the motion and rebut "
            "the other side's points."
        )

    @property
    def concurrent_steps(self) -> bool:
        """Only the built-in scripted opponent and the rule judge are private to this instance; a user's (model)
        opponent or judge may be shared, and must never run on two threads or beside the collecting policy."""
        return isinstance(self.opponent, ScriptedDebater) and self.judge_policy is None

    # ------------------------------------------------------------------ episode
    def _reset(self, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        seed = self._seed
        if not isinstance(seed, int) or isinstance(seed, bool):
            seed = self.rng.randrange(2**31)
            self.rng = random.Random(seed)
        wanted_topic, wanted_side = options.get("topic"), options.get("side")
        if wanted_topic is not None:
            matches = [t for t in self.topics if t.id == wanted_topic]
            if not matches:
                raise ValueError(f"Unknown topic {wanted_topic!r} for this topic_set.")
            topic = matches[0]
        else:
            topic = self.rng.choice(self.topics)
        side = wanted_side if wanted_side is not None else self.rng.choice(SIDES)
        if side not in SIDES:
            raise ValueError(f"side must be 'pro' or 'con', got {side!r}")
        other = "con" if side == "pro" else "pro"
        self.topic = topic
        self.sides = [side if a % 2 == 0 else other for a in range(self.num_agents)]
        self.scorer = DebateScorer(topic, self.sides)
        self.task_id = f"debate-{topic.id}-{side}"
        self.transcript = []
        self._last_seen = [0] * self.num_agents
        self._orders = []
        for a in range(self.num_agents):
            order = [topic.index[p.key] for p in topic.side_points(self.sides[a])]
            self.rng.shuffle(order)
            self._orders.append(order)
        self.records = [{"observations": [], "actions": [], "rewards": []} for _ in range(self.num_agents)]
        observation = f"{self._intro(0)}\n{self._turn_prompt(0, 1)}"
        info = self._info(None, None)
        info.update(agent_id="agent_0", role=side, topic=topic.id, motion=topic.motion, round=1)
        return observation, info

    def _info(self, parsed: str | None, error: str | None, success: bool = False) -> dict[str, Any]:
        return {"task_id": self.task_id, "parsed_action": parsed, "error": error, "success": success}

    def _call_opponent(self, agents: list[int]) -> list[str]:
        conversations = []
        for a in agents:
            record = self.records[a]
            messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
            for i, observation in enumerate(record["observations"]):
                messages.append({"role": "user", "content": observation})
                if i < len(record["actions"]):
                    messages.append({"role": "assistant", "content": record["actions"][i]})
            conversations.append(messages)
        actions = self.opponent(conversations, [self.views[a] for a in agents])
        if isinstance(actions, str | bytes) or not isinstance(actions, Sequence) or len(actions) != len(agents):
            got = len(actions) if isinstance(actions, Sequence) and not isinstance(actions, str | bytes) else actions
            raise ValueError(f"The opponent policy returned {got!r} actions for {len(agents)} conversations.")
        return [coerce_action(a) for a in actions]

    def _step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        _, scorer = self._require_episode()
        round_number = self.turn
        last = round_number >= self.rounds_to_play
        # agent_0 speaks.
        report = scorer.add_turn(0, self._phase(round_number, 0), action)
        self.transcript.append((round_number, 0, cut_speech(action)))
        reward0 = self.shaping * report["delta"]
        # The others answer together.
        others = list(range(1, self.num_agents))
        for a in others:
            lines = self._speeches_since(a)
            if round_number == 1:
                text = f"{self._intro(a)}\nThe latest speeches:\n" + "\n".join(lines)
            else:
                text = "The latest speeches:\n" + "\n".join(lines)
            self.records[a]["observations"].append(f"{text}\n{self._turn_prompt(a, round_number)}")
        replies = self._call_opponent(others)
        for a, reply in zip(others, replies):
            self.records[a]["actions"].append(reply)
            self.records[a]["rewards"].append(0.0)
            report_a = scorer.add_turn(a, self._phase(round_number, a), reply)
            self.records[a]["rewards"][-1] = self.shaping * report_a["delta"]
        for a, reply in zip(others, replies):
            self.transcript.append((round_number, a, cut_speech(reply)))
        lines = self._speeches_since(0)
        observation = f"Round {round_number} replies:\n" + "\n".join(lines)
        stripped = action.strip()
        parsed = stripped[:PARSED_ACTION_CHARS] or None
        error = "empty" if not stripped else ("too_long" if len(action) > CHAR_CAP else None)
        info = self._info(parsed, error)
        info.update(
            agent_id="agent_0",
            role=self.sides[0],
            round=round_number,
            points=report["points"],
            rebuttals=report["rebuttals"],
            penalty=report["penalty"],
            score=round(scorer.score(0), 4),
        )
        if not last:
            observation += f"\n{self._turn_prompt(0, round_number + 1)}"
            return observation, reward0, False, info
        outcome, verdict = self._judge()
        verdict_line = self._verdict_line(verdict)
        result = {REWARD_WIN: "you win (+1)", REWARD_DRAW: "a draw (0)", REWARD_LOSS: "you lose (-1)"}
        observation += f"\nThe debate is over. {verdict_line} Result: {result[outcome[0]]}."
        trajectories = []
        for a in others:
            record = self.records[a]
            record["observations"].append(f"The debate is over. {verdict_line} Result: {result[outcome[a]]}.")
            if record["rewards"]:
                record["rewards"][-1] += outcome[a]
            trajectories.append(
                {
                    "agent_id": f"agent_{a}",
                    "role": self.sides[a],
                    "system_prompt": self.system_prompt,
                    "observations": list(record["observations"]),
                    "actions": list(record["actions"]),
                    "rewards": [float(r) for r in record["rewards"]],
                    "success": outcome[a] == REWARD_WIN,
                }
            )
        info.update(
            success=outcome[0] == REWARD_WIN,
            scores={f"agent_{a}": round(s, 4) for a, s in enumerate(scorer.scores())},
            score_details={f"agent_{a}": scorer.details(a) for a in range(self.num_agents)},
            verdict=verdict,
            agent_trajectories=trajectories,
        )
        return observation, reward0 + outcome[0], round_number >= self.num_rounds, info

    # ------------------------------------------------------------------ judging
    def _judge(self) -> tuple[list[float], dict[str, Any]]:
        _, scorer = self._require_episode()
        scores = scorer.scores()
        if self.judge == "rule":
            outcome, top = rule_verdict(scores)
            winner = f"agent_{top[0]}" if len(top) == 1 else "draw"
            verdict = {"judge": "rule", "winner": winner, "tied": [f"agent_{a}" for a in top] if len(top) > 1 else []}
        else:
            prompt = self.judge_prompt()
            answers = self.judge_policy([prompt], None)  # type: ignore[misc]
            raw = (
                answers[0]
                if isinstance(answers, Sequence) and not isinstance(answers, str | bytes) and answers
                else answers
            )
            raw_text = coerce_action(raw)
            winner = parse_judge_verdict(raw_text, self.sides)
            if winner == "draw":
                outcome = [REWARD_DRAW] * self.num_agents
            else:
                k = int(winner.split("_")[1])
                outcome = [REWARD_WIN if a == k else REWARD_LOSS for a in range(self.num_agents)]
            verdict = {"judge": "model", "winner": winner, "tied": [], "judge_output": raw_text[:500]}
        verdict["outcome"] = {REWARD_WIN: "win", REWARD_DRAW: "draw", REWARD_LOSS: "loss"}[outcome[0]]
        return outcome, verdict

    def _verdict_line(self, verdict: dict[str, Any]) -> str:
        _, scorer = self._require_episode()
        scores = ", ".join(f"agent_{a} {s:.2f}" for a, s in enumerate(scorer.scores()))
        if verdict["winner"] == "draw":
            decision = "a draw" + (f" between {', '.join(verdict['tied'])}" if verdict["tied"] else "")
        else:
            decision = f"{verdict['winner']} wins"
        return f"Verdict ({verdict['judge']} judge): {decision}. Rule scores: {scores}."

    def judge_prompt(self) -> list[dict[str, str]]:
        """The conversation sent to the model judge: the motion, the sides and the whole transcript."""
        topic, _ = self._require_episode()
        debaters = ", ".join(f"agent_{a} ({_SIDE_WORDS[s]} the motion, {s})" for a, s in enumerate(self.sides))
        lines = [f"Motion: {topic.motion}", f"Debaters: {debaters}.", "", "Transcript:"]
        current = 0
        for round_number, a, text in self.transcript:
            if round_number != current:
                current = round_number
                lines.append(f"Round {round_number}")
            lines.append(f"[{self._label(a)}]: {text or '(no argument)'}")
        options = ", ".join(f"'Winner: agent_{a}'" for a in range(self.num_agents))
        lines += [
            "",
            "Who argued better? Weigh distinct, relevant points and rebuttals of the other side; ignore length, "
            f"repetition and lists of keywords. Answer with exactly one line: {options} or 'Winner: draw'.",
        ]
        return [{"role": "system", "content": JUDGE_SYSTEM_PROMPT}, {"role": "user", "content": "\n".join(lines)}]

    # ------------------------------------------------------------------ scripted speeches
    def _next_phase(self, agent: int) -> int:
        return self._phase(self.turn + 1 if agent == 0 else self.turn, agent)

    def _rebuttal_pool(self, agent: int, new: list[int]) -> list[int]:
        topic, scorer = self._require_episode()
        pool = list(scorer.points[agent]) + new
        return pool or [topic.index[p.key] for p in topic.side_points(self.sides[agent])]

    def expert_action_for(self, agent: int) -> str:
        """The expert's speech for ``agent``: two new points of its side (the topic's order, strongest first) and a
        rebuttal of each opponent point it has not answered yet (at most ``MAX_REBUTTALS_PER_TURN``)."""
        topic, scorer = self._require_episode()
        phase = self._next_phase(agent)
        credited = scorer.credited(agent)
        word = "support" if self.sides[agent] == "pro" else "oppose"
        new, sentences = [], []
        for p in topic.side_points(self.sides[agent]):
            i = topic.index[p.key]
            if i in credited:
                continue
            # A point someone else already put in these words is restated in the expert's own words.
            text = p.text if not scorer.was_said(p.text) else _RESTATEMENT.format(short=_capitalise(p.short), word=word)
            if scorer.was_said(text):
                continue
            new.append(i)
            sentences.append(text)
            if len(new) == 2:
                break
        pool = self._rebuttal_pool(agent, new)
        for j, (other, i) in enumerate(scorer.rebuttal_targets(agent, phase)[:MAX_REBUTTALS_PER_TURN]):
            own = topic.points[pool[(j + phase) % len(pool)]]
            template = _REBUTTAL_TEMPLATES[(j + phase) % len(_REBUTTAL_TEMPLATES)]
            name = "my opponent" if self.num_agents == 2 else f"agent_{other}"
            sentence = template.format(Name=_capitalise(name), opp=topic.points[i].short, own=own.short)
            sentences.append(_capitalise(sentence))
        if not sentences:  # nothing new to say: a closing summary of two of its own points
            a, b = pool[phase % len(pool)], pool[(phase + 1) % len(pool)]
            sentences.append(
                f"In sum, {topic.points[a].short} and {topic.points[b].short} are why I {word} the motion."
            )
        return " ".join(sentences)

    def scripted_action_for(self, agent: int) -> str:
        """The default opponent's speech: one new point (two with probability 0.35), in a seeded random order, and
        with probability 0.4 a rebuttal of the latest opponent point."""
        topic, scorer = self._require_episode()
        phase = self._next_phase(agent)
        # The same number of draws every time, so the dice do not depend on what the others said.
        want = 1 + (self.rng.random() < 0.35)
        rebut = self.rng.random() < 0.4
        leads = [self.rng.choice(_SCRIPTED_LEADS) for _ in range(2)]
        pick = self.rng.random()
        credited = scorer.credited(agent)
        new = [i for i in self._orders[agent] if i not in credited and not scorer.was_said(topic.points[i].text)]
        new = new[:want]
        sentences = [lead + topic.points[i].text for lead, i in zip(leads, new)]
        targets = scorer.rebuttal_targets(agent, phase)
        if targets and rebut:
            pool = self._rebuttal_pool(agent, new)
            own = topic.points[pool[int(pick * len(pool))]]
            sentences.append(_SCRIPTED_REBUTTAL.format(opp=topic.points[targets[0][1]].short, own=own.short))
        return " ".join(sentences) or "My case stands."

    def sample_action_for(self, agent: int, rng: random.Random) -> str:
        """A weak or random speech: silence, a platitude, one point, the other side's point, or a keyword soup."""
        topic, _ = self._require_episode()
        kind = rng.randrange(6)
        if kind == 0:
            return ""
        if kind == 1:
            return rng.choice(["I agree.", "No comment.", "I am not sure about this at all."])
        if kind == 2:
            return "This is an important question and there are good arguments on both sides of it."
        if kind == 3:
            return rng.choice(topic.side_points(self.sides[agent])).text
        if kind == 4:
            other = "con" if self.sides[agent] == "pro" else "pro"
            return rng.choice(topic.side_points(other)).text
        words = [w.rstrip("*") for p in topic.points for g in p.groups for w in g]
        return " ".join(rng.sample(words, min(8, len(words))))

    def expert_action(self) -> str:
        """Two new points for ``agent_0``'s side plus rebuttals of the opponents' unanswered points."""
        return self.expert_action_for(0)

    def scripted_action(self) -> str:
        """What the default scripted opponent would say in ``agent_0``'s place."""
        return self.scripted_action_for(0)

    def sample_action(self, rng: random.Random) -> str:
        """A weak or random speech for ``agent_0`` (see ``sample_action_for``)."""
        return self.sample_action_for(0, rng)


# ============================================================================================= built-in topics
def _builtin_topics() -> dict[str, Topic]:
    """The topics of ``envs/data/debate_topics.jsonl`` (see ``parse_topic`` for the point format), by id."""
    topics = {}
    for spec in read_jsonl("debate_topics.jsonl"):
        topics[spec["id"]] = parse_topic(spec)
    return topics


#: The built-in topics by id.
BUILTIN_TOPICS: dict[str, Topic] = _builtin_topics()


def list_topics() -> list[str]:
    """Ids of the built-in topics."""
    return list(BUILTIN_TOPICS)


register_env("debate", DebateEnv)

"""Tests of the multi-agent ``debate`` environment: topic bank, rule judge, model judge, opponents, records."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import pytest

from mrlm_hf.envs import debate as D
from mrlm_hf.envs import debate_judge as J
from mrlm_hf.envs import list_envs, make_env
from mrlm_hf.envs.debate import BUILTIN_TOPICS, DebateAgentView, DebateEnv
from mrlm_hf.envs.debate_judge import (
    CHAR_CAP,
    DECAY,
    REBUTTAL_VALUE,
    REBUTTED_FACTOR,
    DebateScorer,
    parse_judge_verdict,
    parse_topic,
    rule_verdict,
)

Policy = Callable[[DebateEnv, int], str]


def play(env: DebateEnv, seed: int, policy: Policy, **options) -> tuple[list, list, dict]:
    """One episode; returns (observations, rewards, final info)."""
    obs, _ = env.reset(seed=seed, options=options or None)
    observations, rewards = [obs], []
    k = 0
    while True:
        obs, reward, terminated, truncated, info = env.step(policy(env, k))
        k += 1
        observations.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            return observations, rewards, info


def expert(env: DebateEnv, k: int) -> str:
    return env.expert_action()


def own_keywords(env: DebateEnv) -> list[str]:
    return [w.rstrip("*") for p in env.topic.side_points(env.sides[0]) for g in p.groups for w in g]


# ----------------------------------------------------------------------------------------------- topic bank
def test_builtin_topic_bank_is_large_and_self_consistent() -> None:
    """Every point's sentence and short name make that point (and no other point of the same side), and every
    rebuttal the expert can build is credited as one and never mistaken for keyword stuffing."""
    assert len(BUILTIN_TOPICS) >= 30
    for topic in BUILTIN_TOPICS.values():
        assert topic.motion.endswith(".")
        for side in D.SIDES:
            assert len(topic.side_points(side)) >= 5
        for i, point in enumerate(topic.points):
            tokens = J._tokens(point.text)
            made, topic_words, _ = topic.analyse(tokens)
            assert made == [i], (point.key, [topic.points[j].key for j in made])
            assert topic_words <= J.STUFFING_DENSITY * len(tokens), point.key
            assert J.MIN_WORDS <= len(tokens) <= J.MAX_WORDS and len(J.split_sentences(point.text)) == 1
            assert i in topic.analyse(J._tokens(point.short))[0], point.key
        for side, other in (("pro", "con"), ("con", "pro")):
            for own in topic.side_points(side):
                for opp in topic.side_points(other):
                    for template in D._REBUTTAL_TEMPLATES + (D._SCRIPTED_REBUTTAL,):
                        sentence = template.format(Name="My opponent", opp=opp.short, own=own.short)
                        tokens = J._tokens(sentence)
                        made, topic_words, sides = topic.analyse(tokens)
                        assert topic.index[opp.key] in made and side in sides, sentence
                        assert J.CUE_WORDS.intersection(tokens), sentence
                        assert len(made) < J.STUFFING_POINTS and topic_words <= J.STUFFING_DENSITY * len(tokens)


def test_custom_topics_and_topic_selection() -> None:
    custom = {
        "id": "tea",
        "motion": "Tea is better than coffee.",
        "keywords": "tea coffee",
        "pro": [
            "Tea has less caffeine, so it calms nerves instead of causing jitters. | calmer nerves | caffeine / calm* jitter* nerve*"
        ],
        "con": [
            {
                "text": "Coffee sharpens focus and improves alertness at work.",
                "short": "sharper focus",
                "keywords": ["focus*", "alert* sharp*"],
            }
        ],
    }
    env = DebateEnv(topic_set=[custom, "nuclear_power"])
    obs, info = env.reset(seed=0, options={"topic": "tea", "side": "con"})
    assert "Tea is better than coffee." in obs and info["task_id"] == "debate-tea-con" and info["role"] == "con"
    assert env.expert_action().startswith("Coffee sharpens focus")
    assert {env.reset(seed=s)[1]["topic"] for s in range(20)} == {"tea", "nuclear_power"}
    zoos = BUILTIN_TOPICS["abolish_zoos"]
    assert parse_topic(json.loads(json.dumps(zoos.to_dict()))).points == zoos.points  # JSON round trip
    with pytest.raises(ValueError):
        DebateEnv(topic_set=["no_such_topic"])
    with pytest.raises(ValueError):
        DebateEnv(topic_set=[{"id": "x", "motion": "M.", "pro": [], "con": []}])
    with pytest.raises(ValueError):
        parse_topic({"id": "x", "motion": "M.", "pro": ["no separators"], "con": ["a | b | c / d"]})


# ----------------------------------------------------------------------------------------------- episodes
def test_registered_reset_info_and_config_round_trip() -> None:
    assert "debate" in list_envs()
    env = make_env("debate")
    obs, info = env.reset(seed=11)
    assert info["agent_id"] == "agent_0" and info["role"] in ("pro", "con") and info["success"] is False
    assert info["task_id"] == f"debate-{info['topic']}-{info['role']}" and info["motion"] in obs
    assert ("FOR the motion" if info["role"] == "pro" else "AGAINST the motion") in obs
    json.dumps(info)
    again = make_env("debate", **json.loads(json.dumps(env.config)))
    assert again.reset(seed=11) == (obs, info)
    with_policy = DebateEnv(opponent=lambda c, e: [""] * len(c), judge="model", judge_policy=lambda c, e: ["x"])
    assert with_policy.config["opponent"] == "<policy>" and with_policy.config["judge_policy"] == "<policy>"
    with pytest.raises(TypeError, match="passed again"):
        make_env("debate", **with_policy.config)
    with pytest.raises(ValueError):
        DebateEnv(judge="model")  # needs a judge_policy
    with pytest.raises(ValueError):
        DebateEnv(num_agents=1)


def test_expert_beats_the_scripted_opponent_in_at_least_95_percent_of_episodes() -> None:
    env = DebateEnv()
    wins = sum(play(env, seed, expert)[2]["success"] for seed in range(200))
    assert wins / 200 >= 0.95, wins
    env3 = DebateEnv(num_agents=3)
    wins3 = sum(play(env3, seed, expert)[2]["success"] for seed in range(100))
    assert wins3 / 100 >= 0.95, wins3


def test_episodes_are_reproducible_by_seed() -> None:
    a, b = DebateEnv(), DebateEnv()
    for seed in (0, 7, 123):
        for policy in (expert, lambda env, k: env.scripted_action()):
            run_a, run_b = play(a, seed, policy), play(b, seed, policy)
            assert run_a[:2] == run_b[:2] and a.transcript == b.transcript
            assert run_a[2]["scores"] == run_b[2]["scores"]
    tasks = {a.reset(seed=s)[1]["task_id"] for s in range(40)}
    assert len(tasks) > 20  # seeds spread over topics and sides


def test_sample_action_is_a_weak_baseline() -> None:
    env = DebateEnv()
    rng = random.Random(0)
    results = [play(env, seed, lambda e, k: e.sample_action(rng))[2] for seed in range(60)]
    assert sum(r["success"] for r in results) <= 3
    assert all(isinstance(env.sample_action(rng), str) for _ in range(20))


def test_agent_trajectories_have_one_record_per_other_agent() -> None:
    for num_agents, num_rounds in ((2, 3), (3, 2), (4, 1)):
        env = DebateEnv(num_agents=num_agents, num_rounds=num_rounds)
        observations, rewards, info = play(env, 5, expert)
        assert len(rewards) == num_rounds and "The debate is over." in observations[-1]
        trajectories = info["agent_trajectories"]
        assert [t["agent_id"] for t in trajectories] == [f"agent_{a}" for a in range(1, num_agents)]
        for a, t in enumerate(trajectories, start=1):
            assert t["role"] == env.sides[a] and (t["role"] == env.sides[0]) == (a % 2 == 0)  # sides alternate
            assert t["system_prompt"] == env.system_prompt
            assert len(t["observations"]) == len(t["actions"]) + 1 == num_rounds + 1
            assert len(t["rewards"]) == num_rounds and "The debate is over." in t["observations"][-1]
            assert t["observations"][0].startswith("Motion: ") and f"You are agent_{a}" in t["observations"][0]
            assert t["rewards"][:-1] == [0.0] * (num_rounds - 1)  # shaping is 0: only the outcome, at the end
            assert t["success"] == (t["rewards"][-1] == 1.0) == (info["verdict"]["winner"] == t["agent_id"])
        outcomes = [rewards[-1]] + [t["rewards"][-1] for t in trajectories]
        if info["verdict"]["winner"] != "draw":
            assert sorted(outcomes) == [-1.0] * (num_agents - 1) + [1.0]
        json.dumps(info)


def test_max_turns_cuts_the_debate_short_and_still_judges() -> None:
    env = DebateEnv(num_rounds=3, max_turns=2)
    obs, _ = env.reset(seed=1)
    assert "2 rounds" in obs
    env.step(env.expert_action())
    _, reward, terminated, truncated, info = env.step(env.expert_action())
    assert truncated and not terminated and "verdict" in info and reward in (-1.0, 0.0, 1.0)
    with pytest.raises(RuntimeError):
        env.step("more")


# ----------------------------------------------------------------------------------------------- anti-farming
def _repeat_first(env: DebateEnv, k: int) -> str:
    if k == 0:
        env._first = env.expert_action()  # type: ignore[attr-defined]
    return env._first  # type: ignore[attr-defined]


FARMERS: dict[str, Policy] = {
    "repeat_expert_speech": _repeat_first,
    "whole_bank_every_round": lambda env, k: " ".join(p.text for p in env.topic.side_points(env.sides[0])),
    "keyword_list": lambda env, k: " ".join(own_keywords(env)),
    "keyword_prose": lambda env, k: " ".join(
        f"The {a} and the {b} and the {c} matter." for a, b, c in zip(*[iter(own_keywords(env))] * 3)
    ),
    "expert_plus_keywords": lambda env, k: env.expert_action() + " " + " ".join(own_keywords(env)),
    "expert_padded_to_10kB": lambda env, k: (env.expert_action() + " Lorem ipsum dolor sit amet." * 400)[:10_000],
    "expert_repeated_to_10kB": lambda env, k: ((env.expert_action() + " ") * 40)[:10_000],
    "motion_repeated": lambda env, k: " ".join([env.topic.motion] * 40),
}


@pytest.mark.parametrize("name", sorted(FARMERS))
def test_farming_never_beats_the_expert(name: str) -> None:
    env = DebateEnv()
    farmer = FARMERS[name]
    wins = 0
    for seed in range(40):
        expert_score = play(env, seed, expert)[2]["scores"]["agent_0"]
        _, _, info = play(env, seed, farmer)
        assert info["scores"]["agent_0"] < expert_score, (name, seed, info["score_details"]["agent_0"])
        wins += info["success"]
    if name != "expert_plus_keywords":  # which still makes the expert's points, minus a penalty per speech
        assert wins == 0, (name, wins)


@pytest.mark.parametrize(
    "action",
    [
        None,
        "",
        "   ",
        "a" * 100_000,
        bytes(range(256)) * 400,
        "\x00\ufffd" * 5000,
        12345,
        {"a": 1},
        "\ud800 x",
        "é" * 30_000,
    ],
)
def test_malformed_actions_never_raise(action) -> None:
    env = DebateEnv(num_agents=3, shaping=0.1)
    env.reset(seed=2)
    while True:
        obs, reward, terminated, truncated, info = env.step(action)
        assert isinstance(obs, str) and isinstance(reward, float)
        json.dumps(info)
        if terminated or truncated:
            break
    assert info["verdict"]["outcome"] in ("loss", "draw")
    if action in (None, "", "   "):
        assert info["error"] == "empty" and info["parsed_action"] is None
    if isinstance(action, str) and len(action) > CHAR_CAP:
        assert info["error"] == "too_long" and len(info["parsed_action"]) <= D.PARSED_ACTION_CHARS


# ----------------------------------------------------------------------------------------------- rule judge
TOPIC = BUILTIN_TOPICS["car_free_centres"]
PRO = [p.text for p in TOPIC.side_points("pro")]
CON = [p.text for p in TOPIC.side_points("con")]


def test_points_count_once_with_diminishing_returns_and_a_cap_per_speech() -> None:
    scorer = DebateScorer(TOPIC, ["pro", "con"])
    report = scorer.add_turn(0, 0, " ".join(PRO[:2]))
    assert len(report["points"]) == 2 and scorer.score(0) == pytest.approx(1 + DECAY)
    report = scorer.add_turn(0, 2, " ".join(PRO[:2]))  # the same speech again: two repeats
    assert report["points"] == [] and report["penalty"] == pytest.approx(2 * J.REPEAT_PENALTY)
    capped = DebateScorer(TOPIC, ["pro", "con"])
    assert len(capped.add_turn(0, 0, " ".join(PRO))["points"]) == J.MAX_POINTS_PER_TURN
    # The other side's points, vague text and short fragments earn nothing.
    nothing = DebateScorer(TOPIC, ["pro", "con"])
    assert nothing.add_turn(0, 0, CON[0] + " Cars pollute. Fumes, asthma.")["points"] == []
    assert nothing.score(0) == 0.0


def test_rebuttals_need_an_earlier_opponent_point_and_disagreement() -> None:
    opp, own = TOPIC.side_points("con")[1], TOPIC.side_points("pro")[2]
    rebuttal = f"My opponent points to {opp.short}, but that ignores {own.short}."
    early = DebateScorer(TOPIC, ["pro", "con"])
    assert early.add_turn(0, 0, rebuttal)["rebuttals"] == []  # nothing to rebut yet
    agreeing = DebateScorer(TOPIC, ["pro", "con"])
    agreeing.add_turn(1, 1, opp.text)
    assert agreeing.add_turn(0, 2, f"My opponent points to {opp.short}, and {own.short} matter too.")["rebuttals"] == []
    scorer = DebateScorer(TOPIC, ["pro", "con"])
    scorer.add_turn(1, 1, opp.text)
    assert scorer.score(1) == pytest.approx(1.0)
    simultaneous = scorer.add_turn(0, 1, rebuttal)  # a speech of the same phase cannot answer it
    assert simultaneous["rebuttals"] == []
    scorer = DebateScorer(TOPIC, ["pro", "con"])
    scorer.add_turn(1, 1, opp.text)
    assert scorer.add_turn(0, 2, rebuttal)["rebuttals"] == [f"{opp.key}@agent_1"]
    assert scorer.score(1) < 1.0 and scorer.score(1) == pytest.approx(REBUTTED_FACTOR)  # the rebutted point counts less
    assert scorer.details(0)["rebuttals"] == 1 and scorer.score(0) == pytest.approx(1.0 + REBUTTAL_VALUE)
    again = f"My opponent emphasises {opp.short}, yet overlooks {TOPIC.side_points('pro')[0].short}."
    assert scorer.add_turn(0, 6, again)["rebuttals"] == []  # each opponent point is rebutted once


def test_penalties_for_off_topic_stuffing_copying_and_length() -> None:
    scorer = DebateScorer(TOPIC, ["pro", "con"])
    report = scorer.add_turn(0, 0, "I really think that my position here is the correct one overall.")
    assert report["penalty"] > 0 and report["penalty"] == pytest.approx(J.OFF_TOPIC_PENALTY)
    assert scorer.counts[0]["off_topic"] == 1
    stuffed = "Exhaust fumes asthma pedestrians injuries shops trade parking trees noise residents sleep."
    assert scorer.add_turn(0, 2, stuffed)["penalty"] == pytest.approx(J.STUFFING_PENALTY) != 0
    prose_stuffed = (
        "The fumes and the asthma and the pedestrians and the deaths and the noise and the residents matter."
    )
    assert scorer.add_turn(0, 4, prose_stuffed)["points"] == [] and scorer.counts[0]["stuffed"] == 2
    scorer.add_turn(1, 1, CON[0])
    copied = scorer.add_turn(0, 6, CON[0].replace("Many", "So many"))
    assert copied["penalty"] > 0 and copied["penalty"] == pytest.approx(J.COPY_PENALTY)
    assert copied["points"] == [] and scorer.counts[0]["copies"] == 1
    long_speech = DebateScorer(TOPIC, ["pro", "con"])
    report = long_speech.add_turn(0, 0, PRO[0] + " " + "x" * (3 * CHAR_CAP))  # the padding is one long "word"
    assert report["points"] and report["penalty"] > 0 and report["penalty"] == pytest.approx(2 * J.LENGTH_PENALTY)
    assert long_speech.score(0) < DebateScorer(TOPIC, ["pro", "con"]).add_turn(0, 0, PRO[0])["delta"]


def test_every_agent_is_scored_by_the_same_rules() -> None:
    speeches = [" ".join(PRO[:2]), "Words without any content at all, really nothing.", PRO[2] + " " + PRO[2]]
    first, second = DebateScorer(TOPIC, ["pro", "con"]), DebateScorer(TOPIC, ["con", "pro"])
    for phase, speech in enumerate(speeches):
        first.add_turn(0, 2 * phase, speech)
        second.add_turn(1, 2 * phase + 1, speech)
    assert first.score(0) == pytest.approx(second.score(1)) and first.details(0) == second.details(1)


def test_rule_verdict_wins_losses_and_ties() -> None:
    assert rule_verdict([3.0, 1.0]) == ([1.0, -1.0], [0])
    assert rule_verdict([1.0, 1.0 + J.TIE_MARGIN / 2]) == ([0.0, 0.0], [0, 1])
    assert rule_verdict([2.0, 2.0, 0.5]) == ([0.0, 0.0, -1.0], [0, 1])
    assert rule_verdict([0.0, 0.0])[0] == [0.0, 0.0]


# ----------------------------------------------------------------------------------------------- model judge
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Winner: agent_0", "agent_0"),
        ("winner: Agent 1", "agent_1"),
        ("**Winner:** agent_1", "agent_1"),
        ("After weighing both cases, the winner is agent_1.", "agent_1"),
        ("Winner: agent_0\nOn reflection... Winner: agent_1", "agent_1"),
        ("Winner: draw", "draw"),
        ("Winner: tie", "draw"),
        ("Winner: pro", "agent_0"),
        ("The winner is con", "agent_1"),
        ("agent_1", "agent_1"),
        ("  `agent_0`.  ", "agent_0"),
        ("I think agent_1 argued better.", "agent_1"),
        ("agent_0 was fine but agent_1 was better", "draw"),
        ("Winner: agent_7", "draw"),
        ("Winner: agent_99999999999999999999", "draw"),
        ("", "draw"),
        (None, "draw"),
        ("asdf qwerty", "draw"),
        (b"\xff\xfe\x00garbage", "draw"),
        ("Winner" * 20_000, "draw"),
        ("agent_" * 20_000, "draw"),
    ],
)
def test_parse_judge_verdict(text, expected: str) -> None:
    assert parse_judge_verdict(text, ["pro", "con"]) == expected


def test_pro_or_con_is_ambiguous_with_several_agents_per_side() -> None:
    assert parse_judge_verdict("Winner: pro", ["pro", "con", "pro"]) == "draw"
    assert parse_judge_verdict("Winner: con", ["pro", "con", "pro"]) == "agent_1"


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        ("Winner: agent_0", 1.0),
        ("The winner is agent_1.", -1.0),
        ("Winner: draw", 0.0),
        ("", 0.0),
        (None, 0.0),
        ("\x00\x01 not a verdict", 0.0),
        ("Winner: agent_3", 0.0),
        ("x" * 100_000, 0.0),
    ],
)
def test_model_judge_with_a_fake_policy(answer, outcome: float) -> None:
    calls = []

    def judge(conversations, envs=None):
        calls.append(conversations)
        return [answer]

    env = DebateEnv(judge="model", judge_policy=judge)
    _, rewards, info = play(env, 4, expert)
    assert rewards[-1] == outcome and info["success"] == (outcome == 1.0)
    assert info["verdict"]["judge"] == "model" and set(info["scores"]) == {"agent_0", "agent_1"}
    assert len(calls) == 1 and len(calls[0]) == 1  # one conversation, once per episode
    system, user = calls[0][0]
    assert system["role"] == "system" and user["role"] == "user"
    assert env.topic.motion in user["content"] and "Winner: agent_1" in user["content"]
    for _, _, speech in env.transcript:
        assert speech in user["content"]
    json.dumps(info)


# ----------------------------------------------------------------------------------------------- opponents
def test_self_play_with_a_callable_opponent() -> None:
    seen = []

    def opponent(conversations, envs=None):
        seen.append((conversations, envs))
        return [env.expert_action() for env in envs]  # the expert plays the other side: self-play

    env = DebateEnv(opponent=opponent)
    _, _, info = play(env, 9, expert)
    assert len(seen) == env.num_rounds
    for k, (conversations, envs) in enumerate(seen):
        assert len(conversations) == 1 and isinstance(envs[0], DebateAgentView)
        assert envs[0].agent_id == "agent_1" and envs[0].role == env.sides[1] and envs[0].stop_strings == ()
        messages = conversations[0]
        assert messages[0] == {"role": "system", "content": env.system_prompt}
        assert [m["role"] for m in messages[1:]] == ["user", "assistant"] * k + ["user"]
    record = info["agent_trajectories"][0]
    assert record["actions"] == [env.transcript[2 * r + 1][2] for r in range(env.num_rounds)]
    assert info["score_details"]["agent_1"]["rebuttals"] >= 2  # the expert opponent rebuts too


def test_garbage_opponents_do_not_break_the_episode() -> None:
    replies = iter([None, "x" * 100_000, b"\xff\xfe"])
    env = DebateEnv(opponent=lambda conversations, envs: [next(replies)])
    _, _, info = play(env, 3, expert)
    assert info["success"] and len(info["agent_trajectories"][0]["actions"]) == 3
    wrong_count = DebateEnv(opponent=lambda conversations, envs: [])
    wrong_count.reset(seed=0)
    with pytest.raises(ValueError, match="opponent policy returned"):
        wrong_count.step("Hello.")


OUTCOME = {"win": 1.0, "draw": 0.0, "loss": -1.0}


def test_shaping_rewards_new_points_and_cannot_be_farmed() -> None:
    env = DebateEnv(shaping=0.1)
    _, rewards, info = play(env, 6, expert)
    shaping = rewards[:-1] + [rewards[-1] - OUTCOME[info["verdict"]["outcome"]]]
    assert all(r > 0 for r in shaping)  # every expert speech adds points or rebuttals
    # Shaping only adds up the agent's own score gains: at least its final score, at most every point and
    # rebuttal it could possibly earn.
    most = sum(DECAY**k for k in range(5)) + REBUTTAL_VALUE * sum(DECAY**k for k in range(5))
    assert 0.1 * info["scores"]["agent_0"] <= sum(shaping) + 1e-9 <= 0.1 * most
    _, farmed, farmed_info = play(env, 6, _repeat_first)
    farmed_shaping = farmed[:-1] + [farmed[-1] - OUTCOME[farmed_info["verdict"]["outcome"]]]
    assert farmed_shaping[0] > 0 and farmed_shaping[1] < 0 and farmed_shaping[2] < 0  # repeating costs
    assert sum(farmed) < sum(rewards)
    assert play(DebateEnv(), 6, expert)[1][:-1] == [0.0, 0.0]  # shaping=0: outcome only

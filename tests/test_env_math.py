"""Tests of the ``math`` environment and the answer extraction it relies on."""

from __future__ import annotations

import ast
import json
import operator
import random
from fractions import Fraction

import pytest

from mrlm_hf.envs import list_envs, make_env
from mrlm_hf.envs.answer import answers_equal, extract_answer, format_answer, parse_reference
from mrlm_hf.envs.math import FEEDBACK_WRONG, MathEnv, worked_solution

DIFFICULTIES = [1, 2, 3, 4]


# ------------------------------------------------------------------------------------------- answer extraction
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", Fraction(42)),
        ("The answer is 42.", Fraction(42)),
        ("The answer is 1,234.", Fraction(1234)),
        ("The answer is 1,234,567", Fraction(1234567)),
        ("-5", Fraction(-5)),
        ("x = \u22127", Fraction(-7)),  # unicode minus
        ("The answer is -3/4.", Fraction(-3, 4)),
        ("3.5", Fraction(7, 2)),
        ("$1,234.50", Fraction(2469, 2)),
        (".5", Fraction(1, 2)),
        ("2.5e3", Fraction(2500)),
        ("3/4", Fraction(3, 4)),
        ("The answer is 3 / 4.", Fraction(3, 4)),
        ("6/8", Fraction(3, 4)),
        ("\\frac{3}{4}", Fraction(3, 4)),
        ("-\\frac{3}{4}", Fraction(-3, 4)),
        ("\\dfrac{-3}{4}", Fraction(-3, 4)),
        ("\\tfrac{10}{4}", Fraction(5, 2)),
        ("So \\boxed{17}, not 5.", Fraction(17)),
        ("\\boxed{\\frac{1}{2}}", Fraction(1, 2)),
        ("First \\boxed{3}, then \\boxed{4}, finally 9", Fraction(4)),
        ("\\boxed{x = 12}", Fraction(12)),
        ("\\boxed{}  the answer is 8", Fraction(8)),
        ("48 + 24 = 72 clips\n#### 72", Fraction(72)),
        ("blah 5 #### 1,234", Fraction(1234)),
        ("####", None),
        ("The answer is 7, not 8 or 9.", Fraction(7)),
        ("Answer: -3/4", Fraction(-3, 4)),
        ("answer = 12 (I checked 5 cases)", Fraction(12)),
        ("I think it is 5, or maybe 7", Fraction(7)),
        ("5-3", Fraction(3)),  # a hyphen between numbers is not a minus sign
        ("(-5)", Fraction(-5)),
        ("It's 50%", Fraction(50)),
        ("nothing here", None),
        ("", None),
        ("   \n\t ", None),
        ("1/0", None),
        ("\\frac{1}{0}", None),
        ("{not json", None),
        ("\ufffd\ufffd", None),
    ],
)
def test_extract_answer_cases(text: str, expected: Fraction | None) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    "garbage",
    [
        "a" * 100_000,
        "1" * 100_000,
        "1 " * 50_000,
        "1," * 50_000,
        "1/" * 50_000,
        "-" * 100_000,
        " " * 100_000 + "7",
        "\\boxed{" * 15_000,
        "\\frac{" * 15_000,
        "\\frac{1}{" * 10_000,
        "answer is " * 10_000,
        "####" * 25_000,
        "{" * 100_000,
        "1.1." * 25_000,
        "1e1e" * 25_000,
        bytes(range(256)) * 400,
        b"\xff\xfe",
        None,
        12,
    ],
)
def test_extract_answer_never_raises_on_garbage(garbage: object) -> None:
    result = extract_answer(garbage)
    assert result is None or isinstance(result, Fraction)


def test_extract_answer_specific_garbage_values() -> None:
    assert extract_answer("1" * 100_000) is None  # absurdly long numbers are not answers
    assert extract_answer(" " * 100_000 + "7") == 7
    assert extract_answer("x" * 100_000 + " The answer is 9.") == 9
    assert extract_answer(b"The answer is 5") == 5


def test_answers_equal_is_exact() -> None:
    assert answers_equal(Fraction(3, 4), Fraction(6, 8))
    assert answers_equal("3/4", "0.75")
    assert answers_equal("\\frac{1}{2}", Fraction(1, 2))
    assert answers_equal(5, "The answer is 5.")
    assert answers_equal(0.1, Fraction(1, 10))
    assert not answers_equal(Fraction(1, 3), 0.333)
    assert not answers_equal(None, None)
    assert not answers_equal("no number", "no number")
    assert not answers_equal(Fraction(2), Fraction(-2))
    assert not answers_equal(True, 1)


def test_parse_reference() -> None:
    gsm = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nAltogether 48+24 = <<48+24=72>>72 clips.\n#### 72"
    assert parse_reference(gsm) == 72
    assert parse_reference("#### 1,234") == 1234
    assert parse_reference("#### -5") == -5
    assert parse_reference("3/4") == Fraction(3, 4)
    assert parse_reference("\\frac{3}{4}") == Fraction(3, 4)
    assert parse_reference(7) == 7
    assert parse_reference(2.5) == Fraction(5, 2)
    for bad in ["no number", "", None, float("nan")]:
        with pytest.raises(ValueError):
            parse_reference(bad)


def test_format_answer_round_trips() -> None:
    for value in [Fraction(42), Fraction(-7), Fraction(3, 4), Fraction(-5, 2), Fraction(0)]:
        text = format_answer(value)
        assert extract_answer(f"The answer is {text}.") == value
    assert format_answer(Fraction(-5, 2)) == "-5/2"
    assert format_answer(12) == "12"


# ------------------------------------------------------------------------------------------- generated problems
def _eval_expression(expr: str) -> Fraction:
    """Evaluate an arithmetic expression exactly (independently of the generator)."""
    ops = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}

    def ev(node: ast.AST) -> Fraction:
        if isinstance(node, ast.BinOp):
            return ops[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return Fraction(node.value)
        raise AssertionError(f"unexpected node {ast.dump(node)}")

    return ev(ast.parse(expr, mode="eval").body)


@pytest.mark.parametrize("difficulty", [1, 2])
def test_arithmetic_answers_match_the_printed_expression(difficulty: int) -> None:
    env = MathEnv(difficulty=difficulty)
    for seed in range(200):
        obs, _ = env.reset(seed=seed)
        assert obs.startswith("What is ") and obs.endswith("?")
        assert _eval_expression(obs[len("What is ") : -1]) == env.answer, obs


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_reproducible_by_seed(difficulty: int) -> None:
    a, b = MathEnv(difficulty=difficulty), MathEnv(difficulty=difficulty)
    for seed in range(30):
        obs_a, info_a = a.reset(seed=seed)
        obs_b, info_b = b.reset(seed=seed)
        assert obs_a == obs_b and a.expert_action() == b.expert_action()
        assert info_a["task_id"] == info_b["task_id"] == f"math-d{difficulty}-{seed}"
    questions = {a.reset(seed=s)[0] for s in range(100)}
    assert len(questions) >= 80  # seeds give different problems


def test_unseeded_reset_names_a_reproducible_task() -> None:
    env = MathEnv(difficulty=3)
    obs, info = env.reset()
    seed = int(info["task_id"].rsplit("-", 1)[1])
    assert env.reset(seed=seed)[0] == obs


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_expert_solves_every_problem(difficulty: int) -> None:
    env = MathEnv(difficulty=difficulty)
    solved = 0
    for seed in range(200):
        env.reset(seed=seed)
        action = env.expert_action()
        assert action.startswith("The answer is ")
        obs, reward, terminated, truncated, info = env.step(action)
        if info["success"]:
            solved += 1
            assert reward == 1.0 and terminated and not truncated
            assert info["parsed_action"] == format_answer(env.answer)
            assert info["error"] is None and info["attempt"] == 1
    assert solved == 200


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_worked_expert_solves_every_problem(difficulty: int) -> None:
    env = MathEnv(difficulty=difficulty, expert="worked")
    plain = MathEnv(difficulty=difficulty)
    worked = 0
    for seed in range(500):
        obs, _ = env.reset(seed=seed)
        assert plain.reset(seed=seed)[0] == obs  # the style does not change the problems
        action = env.expert_action()
        assert action.endswith(plain.expert_action())
        assert action.lower().count("answer") == 1  # no step says "answer": extract_answer reads the final one
        worked += action != plain.expert_action()
        _, reward, terminated, _, info = env.step(action)
        assert info["success"] and reward == 1.0 and terminated, (obs, action)
        assert info["parsed_action"] == format_answer(env.answer)
    # Difficulty 1 and 2 are always worked; word problems fall back to the plain answer.
    assert worked == (500 if difficulty in (1, 2) else 0)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What is 47 + 38?", "7+8=15, 4+3+1=8. The answer is 85."),
        ("What is 97 + 38?", "7+8=15, 9+3+1=13. The answer is 135."),
        ("What is 42 + 25?", "2+5=7, 4+2=6. The answer is 67."),
        ("What is 52 - 17?", "12-7=5, 5-1-1=3. The answer is 35."),
        ("What is 47 - 38?", "17-8=9, 4-3-1=0. The answer is 9."),
        ("What is 38 - 47?", "-(47-38): 17-8=9, 4-3-1=0. The answer is -9."),
        ("What is 57 - 87?", "-(87-57): 7-7=0, 8-5=3. The answer is -30."),
        ("What is 50 - 50?", "0-0=0, 5-5=0. The answer is 0."),
        ("What is 8 * 7?", "8*7=56. The answer is 56."),
        ("What is 56 / 8?", "56/8=7. The answer is 7."),
        ("What is (12 + 6) / 4?", "12+6=18, 18/4=9/2. The answer is 9/2."),
        ("What is 42 - 11 * 9?", "11*9=99, 42-99=-57. The answer is -57."),
        ("What is 7 / 2 * 4?", "7/2=7/2, (7/2)*4=14. The answer is 14."),
        ("What is 3 - 10 - 2?", "3-10=-7, (-7)-2=-9. The answer is -9."),
        ("What is 20 - (3 + 5)?", "3+5=8, 20-8=12. The answer is 12."),
    ],
)
def test_worked_solution_text(question: str, expected: str) -> None:
    answer = extract_answer(expected)
    assert _eval_expression(question[len("What is ") : -1]) == answer
    assert worked_solution(question, answer) == expected


def test_worked_solution_falls_back_and_checks_itself() -> None:
    assert worked_solution("Tom has 3 apples. How many?", Fraction(3)) == "The answer is 3."
    assert worked_solution("What is 2 ^ 3?", Fraction(8)) == "The answer is 8."
    assert worked_solution("What is 1 + 2 + 3 + 4?", Fraction(10)) == "The answer is 10."
    assert worked_solution("What is 5 / (3 - 3)?", Fraction(0)) == "The answer is 0."
    with pytest.raises(RuntimeError):
        worked_solution("What is 47 + 38?", Fraction(84))
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"question": ["What is 47 + 38?"], "answer": ["85"]})
    env = MathEnv(dataset=ds, expert="worked")
    env.reset(seed=0)
    assert env.expert_action() == "The answer is 85."  # dataset problems: the plain answer


def test_expert_style_is_validated_and_recorded() -> None:
    assert "expert" not in MathEnv().config  # the default leaves existing configs unchanged
    env = make_env("math", difficulty=1, expert="worked")
    assert env.config == {"difficulty": 1, "max_turns": 3, "expert": "worked"}
    clone = make_env("math", **json.loads(json.dumps(env.config)))
    env.reset(seed=5)
    clone.reset(seed=5)
    assert clone.expert_action() == env.expert_action() != "The answer is " + format_answer(env.answer) + "."
    for bad in ("", "Worked", "cot", None):
        with pytest.raises(ValueError):
            MathEnv(expert=bad)


def test_fractional_and_negative_answers_occur() -> None:
    fractional = negative = 0
    for difficulty in (1, 2, 4):
        env = MathEnv(difficulty=difficulty)
        for seed in range(200):
            env.reset(seed=seed)
            fractional += env.answer.denominator != 1
            negative += env.answer < 0
    assert fractional > 10 and negative > 10


def test_word_problems_are_stories() -> None:
    for difficulty in (3, 4):
        env = MathEnv(difficulty=difficulty)
        obs, _ = env.reset(seed=1)
        assert obs.count(".") >= 2 and obs.endswith("?")


# ------------------------------------------------------------------------------------------- episode dynamics
def _wrong_answer(env: MathEnv) -> str:
    return f"The answer is {format_answer(env.answer + 1)}."


def test_wrong_answers_do_not_leak_the_answer() -> None:
    for difficulty in DIFFICULTIES:
        env = MathEnv(difficulty=difficulty, max_turns=3)
        for seed in range(50):
            env.reset(seed=seed)
            truth = format_answer(env.answer)
            for _ in range(3):
                obs, reward, terminated, _, info = env.step(_wrong_answer(env))
                assert truth not in obs and not any(ch.isdigit() for ch in obs)
                assert reward == 0.0 and not terminated and not info["success"]


def test_second_attempt_can_succeed_but_is_worth_no_more() -> None:
    env = MathEnv(difficulty=2, max_turns=3)
    env.reset(seed=5)
    obs, reward, terminated, truncated, info = env.step(_wrong_answer(env))
    assert obs == FEEDBACK_WRONG and reward == 0.0 and not (terminated or truncated)
    assert info["attempt"] == 1 and info["parsed_action"] == format_answer(env.answer + 1)
    _, reward, terminated, _, info = env.step(env.expert_action())
    assert reward == 1.0 and terminated and info["success"] and info["attempt"] == 2


@pytest.mark.parametrize(
    "action", [None, "", "x" * 100_000, b"\xff\xfe", "{not json", "I don't know", ["no", "number"]]
)
def test_malformed_actions_are_observations(action: object) -> None:
    env = MathEnv(difficulty=1, max_turns=3)
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(action)
    assert reward == -0.1 and not terminated and not truncated and not info["success"]
    assert "The answer is" in obs
    assert info["error"] in {"empty", "no_answer"} and info["parsed_action"] is None
    json.dumps(info)
    # The episode goes on and can still be solved.
    _, reward, terminated, _, info = env.step(env.expert_action())
    assert reward == 1.0 and terminated and info["success"]


def test_turn_limit_truncates() -> None:
    env = MathEnv(difficulty=1, max_turns=2)
    env.reset(seed=3)
    _, _, terminated, truncated, _ = env.step(_wrong_answer(env))
    assert not terminated and not truncated
    _, _, terminated, truncated, info = env.step("")
    assert not terminated and truncated and info["turn"] == 2 and not info["success"]
    with pytest.raises(RuntimeError):
        env.step(env.expert_action())


def test_rewards_cannot_be_farmed() -> None:
    env = MathEnv(difficulty=1, max_turns=5)
    env.reset(seed=7)
    wrong = _wrong_answer(env)
    rewards = [env.step(wrong)[1] for _ in range(4)]
    assert rewards == [0.0] * 4  # repeating a wrong answer earns nothing
    # Listing many candidates: only the marked one counts.
    many = "The answer is " + format_answer(env.answer + 2) + ". Or " + " or ".join(str(i) for i in range(-200, 200))
    _, reward, terminated, truncated, _ = env.step(many)
    assert reward == 0.0 and truncated and not terminated

    # A right answer pays once: the episode is over, a repeat raises by design.
    env.reset(seed=7)
    assert env.step(env.expert_action())[1] == 1.0
    with pytest.raises(RuntimeError):
        env.step(env.expert_action())

    # Any policy's return is at most 1.0.
    policy_rng = random.Random(0)
    for seed in range(100):
        env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            action = env.expert_action() if policy_rng.random() < 0.3 else env.sample_action(policy_rng)
            _, reward, terminated, truncated, _ = env.step(action)
            total += reward
            done = terminated or truncated
        assert total <= 1.0


def test_sample_action_is_a_weak_baseline() -> None:
    env = MathEnv(difficulty=1, max_turns=1)
    rng = random.Random(0)
    successes = 0
    for seed in range(200):
        env.reset(seed=seed)
        action = env.sample_action(rng)
        assert isinstance(action, str)
        successes += env.step(action)[4]["success"]
    assert successes < 20
    assert MathEnv().sample_action(random.Random(1)) == MathEnv().sample_action(random.Random(1))


def test_info_is_json_and_has_contract_keys() -> None:
    env = MathEnv(difficulty=4)
    _, info = env.reset(seed=11)
    for key in ("task_id", "turn", "parsed_action", "error", "success", "attempt"):
        assert key in info
    assert info["turn"] == 0 and info["attempt"] == 0 and info["success"] is False
    json.dumps(info)
    _, _, _, _, info = env.step(env.expert_action())
    json.dumps(info)


# ------------------------------------------------------------------------------------------- construction, datasets
def test_registry_config_and_validation() -> None:
    assert "math" in list_envs()
    env = make_env("math", difficulty=3, max_turns=2)
    assert isinstance(env, MathEnv) and env.name == "math" and env.system_prompt
    assert env.config == {"difficulty": 3, "max_turns": 2}
    clone = make_env("math", **json.loads(json.dumps(env.config)))
    assert clone.reset(seed=9)[0] == env.reset(seed=9)[0]
    for bad in (0, 5, True, "1"):
        with pytest.raises(ValueError):
            MathEnv(difficulty=bad)
    with pytest.raises(RuntimeError):
        MathEnv().expert_action()


def test_dataset_problems_gsm8k_style() -> None:
    datasets = pytest.importorskip("datasets")
    rows = {
        "question": ["Tom has 3 apples and buys 4 more. How many?", "Half of 9?", "Debt of 5?"],
        "answer": ["3 + 4 = <<3+4=7>>7 apples.\n#### 7", "9/2 = 4.5\n#### 4.5", "#### -5"],
    }
    env = MathEnv(dataset=datasets.Dataset.from_dict(rows), max_turns=2)
    config = env.config
    assert config["dataset"] == "<in-memory>"
    json.dumps(config)
    expected = [Fraction(7), Fraction(9, 2), Fraction(-5)]
    for seed in range(7):
        obs, info = env.reset(seed=seed)
        row = seed % 3
        assert obs == rows["question"][row] and info["task_id"] == f"math-data-{row}"
        assert env.answer == expected[row]
        _, reward, terminated, _, info = env.step(env.expert_action())
        assert reward == 1.0 and terminated and info["success"]
    env.reset(seed=1)
    assert env.step("The answer is 4.5")[4]["success"]  # decimal form of 9/2 is accepted
    # The config marker cannot silently stand in for the data.
    with pytest.raises(TypeError):
        make_env("math", **config)


def test_dataset_custom_columns_and_errors() -> None:
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"problem": ["1 + 1?"], "solution": ["\\boxed{2}"]})
    env = MathEnv(dataset=ds, question_column="problem", answer_column="solution")
    assert env.reset(seed=123)[0] == "1 + 1?" and env.answer == 2
    with pytest.raises(ValueError):
        MathEnv(dataset=ds)  # default column names are missing
    with pytest.raises(ValueError):
        MathEnv(dataset=datasets.Dataset.from_dict({"question": [], "answer": []}))
    with pytest.raises(ValueError, match=r"dataset row 0, column 'answer': .*no number"):
        MathEnv(dataset=datasets.Dataset.from_dict({"question": ["?"], "answer": ["none"]}))  # refused at load


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"question": "Q?", "answer": "She has 5 and eats 2 of them."}, r"column 'answer': several numbers"),
        ({"question": "Q?", "answer": "5 + 2 = <<5+2=7>>7\n#### seven"}, r"'####' is not followed by a number"),
        ({"question": "Q?", "answer": float("nan")}, r"column 'answer': .*no number"),
        ({"question": "Q?", "answer": True}, r"column 'answer': .*no number"),
        ({"question": "", "answer": "#### 3"}, r"column 'question': must be a non-empty string"),
        ({"question": None, "answer": "#### 3"}, r"column 'question'"),
    ],
)
def test_dataset_rows_are_all_checked_at_load(row: dict, message: str) -> None:
    good = {"question": "What is 1 + 1?", "answer": "1 + 1 = 2\n#### 2"}
    with pytest.raises(ValueError, match=r"dataset row 2\b.*" + message):
        MathEnv(dataset=[good, good, row, good])  # the bad row is named, before any reset reaches it


def test_dataset_answers_in_every_accepted_form() -> None:
    answers = ["#### 1,000", "3 / 4", "\\frac{3}{4}", "2.5e3", -7, 2.5, "so the answer is 12 (of 15)", "\\boxed{-2}"]
    env = MathEnv(dataset=[{"question": f"Q{i}?", "answer": a} for i, a in enumerate(answers)])
    expected = [1000, Fraction(3, 4), Fraction(3, 4), 2500, -7, Fraction(5, 2), 12, -2]
    for seed, value in enumerate(expected):
        env.reset(seed=seed)
        assert env.answer == value

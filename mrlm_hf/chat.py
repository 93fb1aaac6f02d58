"""One place that turns a trajectory into chat messages, for rollouts, training and evaluation alike.

A trajectory with observations ``o_0 .. o_T`` and actions ``a_0 .. a_{T-1}`` is the conversation
``[system], user: o_0, assistant: a_0, user: o_1, ..., assistant: a_{T-1}, user: o_T``. Observations are
``user`` turns because every chat template accepts that role.
"""

from __future__ import annotations

from collections.abc import Sequence

Message = dict[str, str]

OBSERVATION_ROLE = "user"
ACTION_ROLE = "assistant"


def trajectory_messages(
    system_prompt: str | None, observations: Sequence[str], actions: Sequence[str]
) -> list[Message]:
    """Interleave observations and actions into chat messages (observations may be one longer than actions)."""
    if not len(actions) <= len(observations) <= len(actions) + 1:
        raise ValueError(
            f"A trajectory needs len(actions) <= len(observations) <= len(actions) + 1, got {len(observations)} "
            f"observations and {len(actions)} actions."
        )
    messages: list[Message] = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    for i, observation in enumerate(observations):
        messages.append({"role": OBSERVATION_ROLE, "content": observation})
        if i < len(actions):
            messages.append({"role": ACTION_ROLE, "content": actions[i]})
    return messages


def fold_system_prompt(messages: list[Message]) -> list[Message]:
    """Merge a leading system message into the first user turn, for templates that refuse the system role
    (Gemma raises on it)."""
    if not messages or messages[0]["role"] != "system":
        return messages
    system, rest = messages[0]["content"], [dict(m) for m in messages[1:]]
    if rest and rest[0]["role"] == OBSERVATION_ROLE:
        rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
        return rest
    return [{"role": OBSERVATION_ROLE, "content": system}, *rest]

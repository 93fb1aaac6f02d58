"""Policies: a batch of conversations in, a batch of action strings out.

A policy is any callable ``policy(conversations, envs) -> list[str]``. ``conversations`` are chat messages as
rendered by ``mrlm_hf.chat.trajectory_messages``; ``envs`` are the matching environment instances (scripted
experts read their state; model policies read their stop strings). Four implementations ship here: the
environments' experts, a random baseline, any ``transformers`` causal LM, and any OpenAI-compatible chat server
(vLLM, SGLang, ``transformers serve``) for users who have one.
"""

from __future__ import annotations

import itertools
import json
import random
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, runtime_checkable

import torch

from mrlm_hf.attention import decoding_attention
from mrlm_hf.chat import Message, end_of_turn_token_ids, render_generation_prompt
from mrlm_hf.envs.base import TextEnv


@runtime_checkable
class Policy(Protocol):
    """The policy protocol."""

    def __call__(self, conversations: list[list[Message]], envs: Sequence[TextEnv] | None = None) -> list[str]: ...


class ExpertPolicy:
    """Each environment's scripted expert (demonstrations without any model)."""

    name = "expert"

    def __call__(self, conversations: list[list[Message]], envs: Sequence[TextEnv] | None = None) -> list[str]:
        if envs is None:
            raise ValueError("ExpertPolicy needs the environments (it reads their state).")
        return [env.expert_action() for env in envs]


class RandomPolicy:
    """A baseline: each environment's ``sample_action`` drawn from a seeded generator."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def __call__(self, conversations: list[list[Message]], envs: Sequence[TextEnv] | None = None) -> list[str]:
        if envs is None:
            raise ValueError("RandomPolicy needs the environments (it asks them for a random action).")
        return [env.sample_action(self.rng) for env in envs]


class TransformersPolicy:
    """Batched sampling from a ``transformers`` causal LM with its chat template.

    Prompts are sorted by length, left-padded and generated in chunks of ``batch_size`` (sorting keeps padding
    small); generation stops at the template's end-of-turn token (and EOS), and each action is cut at the first of
    the environment's ``stop_strings``. ``cache_implementation="static"`` preallocates the KV cache, which lets
    ``transformers`` compile the decoding step on a GPU; ``decoder="static"`` goes further with
    ``mrlm_hf.generation.StaticDecoder`` (the whole step, sampling included, in one CUDA graph, no per-step host
    sync): the fast setting for large rollouts (see bench/rollout_throughput.py)."""

    name = "model"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        max_new_tokens: int = 256,
        do_sample: bool = True,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_k: int = 0,
        batch_size: int = 64,
        stop_strings: Sequence[str] = (),
        seed: int | None = None,
        cache_implementation: str | None = None,
        decoder: str = "generate",
        max_cache_len: int = 2048,
    ) -> None:
        if decoder not in ("generate", "static"):
            raise ValueError(f"decoder must be 'generate' or 'static', got {decoder!r}.")
        if decoder == "static" and (top_p < 1.0 or top_k > 0):
            raise ValueError("The static decoder samples from the full distribution: leave top_p=1.0 and top_k=0.")
        self.decoder, self.max_cache_len, self._static = decoder, max_cache_len, None
        self.model, self.tokenizer = model, tokenizer
        self.batch_size = batch_size
        self.stop_strings = tuple(stop_strings)
        self.seed = seed
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.generation_kwargs: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "do_sample": do_sample,
            "eos_token_id": end_of_turn_token_ids(tokenizer),
            "pad_token_id": self.pad_token_id,
        }
        if do_sample:
            self.generation_kwargs.update(temperature=temperature, top_p=top_p, top_k=top_k)
        if cache_implementation:
            self.generation_kwargs["cache_implementation"] = cache_implementation

    def prompts(self, conversations: list[list[Message]]) -> list[str]:
        """Chat-template prompts ending with the assistant header."""
        return [render_generation_prompt(self.tokenizer, messages) for messages in conversations]

    @torch.no_grad()
    def generate_tokens(self, prompts: list[list[int]], **overrides: Any) -> list[list[int]]:
        """New token ids for each prompt (ids), generated in length-sorted, left-padded batches."""
        if self.seed is not None:
            torch.manual_seed(self.seed)
        kwargs = {**self.generation_kwargs, **overrides}
        stop_ids = set(kwargs["eos_token_id"] or [])
        was_training = self.model.training
        self.model.eval()
        device = next(self.model.parameters()).device
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        outputs: list[list[int]] = [[] for _ in prompts]
        try:
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                width = max(len(prompts[i]) for i in chunk)
                input_ids = torch.full((len(chunk), width), self.pad_token_id, dtype=torch.long)
                attention_mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, i in enumerate(chunk):
                    input_ids[row, width - len(prompts[i]) :] = torch.tensor(prompts[i])
                    attention_mask[row, width - len(prompts[i]) :] = 1
                if self.decoder == "static":
                    for i, tokens in zip(chunk, self._static_generate([prompts[i] for i in chunk], kwargs)):
                        outputs[i] = tokens
                    continue
                with decoding_attention(self.model):
                    generated = self.model.generate(
                        input_ids=input_ids.to(device), attention_mask=attention_mask.to(device), **kwargs
                    )
                for row, i in enumerate(chunk):
                    tokens = generated[row, width:].tolist()
                    cut = next((j + 1 for j, t in enumerate(tokens) if t in stop_ids), len(tokens))
                    outputs[i] = tokens[:cut]
        finally:
            self.model.train(was_training)
        return outputs

    def _static_generate(self, prompts: list[list[int]], kwargs: dict[str, Any]) -> list[list[int]]:
        from mrlm_hf.generation import StaticDecoder

        if self._static is None:
            self._static = StaticDecoder(self.model, self.batch_size, self.max_cache_len)
        return self._static.generate(
            prompts,
            kwargs["max_new_tokens"],
            do_sample=kwargs["do_sample"],
            temperature=kwargs.get("temperature", 1.0),
            eos_token_ids=kwargs["eos_token_id"] or (),
            pad_token_id=self.pad_token_id,
        )

    def __call__(self, conversations: list[list[Message]], envs: Sequence[TextEnv] | None = None) -> list[str]:
        prompts = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in self.prompts(conversations)]
        tokens = self.generate_tokens(prompts)
        actions = self.tokenizer.batch_decode(tokens, skip_special_tokens=True)
        stops = [self.stop_strings + tuple(getattr(env, "stop_strings", ())) for env in envs or [None] * len(actions)]
        return [_cut_at(action, stop) for action, stop in zip(actions, stops)]


class OpenAIPolicy:
    """Actions from an OpenAI-compatible chat-completions server (``vllm serve``, SGLang, ``transformers serve``).

    Each conversation is one ``POST {base_url}/chat/completions``, ``concurrency`` of them in flight at once, so the
    server's own batching (vLLM's continuous batching and paged cache) sets the throughput; the server applies the
    model's chat template. The environment's stop strings travel as ``stop`` (the first four: the OpenAI limit) and
    every action is also cut at the first of them here; servers leave the stop string out of the text, so it is put
    back where the server says which one it hit (``stop_reason`` in vLLM, ``matched_stop`` in SGLang). A server that cannot be reached or answers with an error
    raises an error that names the URL and the status: an outage is not turned into empty actions. With ``seed``,
    request ``i`` of the policy's life carries ``seed + i`` (servers that honour it, like vLLM, then repeat a run).
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        max_tokens: int = 256,
        temperature: float = 1.0,
        top_p: float = 1.0,
        stop_strings: Sequence[str] = (),
        api_key: str | None = None,
        concurrency: int = 64,
        timeout: float = 300.0,
        seed: int | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.stop_strings, self.concurrency, self.timeout = model, tuple(stop_strings), concurrency, timeout
        self.body: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p}
        self.body.update(extra_body or {})
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self._seeds = itertools.count(seed) if seed is not None else None

    def __call__(self, conversations: list[list[Message]], envs: Sequence[TextEnv] | None = None) -> list[str]:
        stops = [
            self.stop_strings + tuple(getattr(env, "stop_strings", ())) for env in envs or [None] * len(conversations)
        ]
        seeds = [next(self._seeds) if self._seeds is not None else None for _ in conversations]
        if not conversations:
            return []
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(conversations)))) as pool:
            return list(pool.map(self._complete, conversations, stops, seeds))

    def _complete(self, messages: list[Message], stops: tuple[str, ...], seed: int | None) -> str:
        body = {"model": self.model, "messages": [dict(m) for m in messages], **self.body}
        if stops:
            body["stop"] = list(stops[:4])
        if seed is not None:
            body["seed"] = seed
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = json.load(response)
        except urllib.error.HTTPError as error:
            detail = error.read()[:500].decode(errors="replace")
            raise RuntimeError(f"{self.url} answered HTTP {error.code}: {detail}") from error
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise ConnectionError(
                f"Cannot reach {self.url} ({reason}). Start an OpenAI-compatible server (e.g. `vllm serve MODEL` or "
                "`transformers serve`) or pass the right base_url (it usually ends in /v1)."
            ) from error
        try:
            choice = payload["choices"][0]
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as error:
            raise RuntimeError(
                f"{self.url} answered without choices[0].message.content: {str(payload)[:500]}"
            ) from error
        matched = choice.get("stop_reason", choice.get("matched_stop"))  # vLLM / SGLang name the stop string hit
        if isinstance(matched, str) and matched in stops and not text.endswith(matched):
            text += matched  # servers drop the stop string; actions keep it, as with TransformersPolicy
        return _cut_at(text, stops)


def _cut_at(text: str, stop_strings: Sequence[str]) -> str:
    cut = len(text)
    for stop in stop_strings:
        index = text.find(stop)
        if stop and index != -1:
            cut = min(cut, index + len(stop))
    return text[:cut]

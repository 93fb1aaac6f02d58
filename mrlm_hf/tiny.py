"""Tiny models and tokenizers built locally, so that tests and the embedded default need no download.

``build_tokenizer`` trains a small byte-level BPE tokenizer (digits split one by one, so arithmetic is learnable)
on the given texts and gives it a chat template; ``build_model`` makes a randomly initialised Qwen2-architecture
causal LM of any size from a config. Both save and load with the usual ``save_pretrained``/``from_pretrained``.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Llama-3 style: a BOS token, header tokens, contents trimmed, <|eot_id|> closing every turn.
LLAMA3_TEMPLATE = (
    "{{ '<|begin_of_text|>' }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)

TEMPLATES = {"chatml": (CHATML_TEMPLATE, "<|im_end|>"), "llama3": (LLAMA3_TEMPLATE, "<|eot_id|>")}

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|begin_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|pad|>",
]

_BASE_CORPUS = [
    "The answer is 42. Incorrect, try again. Correct! What is 3 + 4? Solve the problem.",
    "system user assistant tool observation action reward",
    "def solve(x):\n    return x * 2\n",
]


def build_tokenizer(
    corpus: Iterable[str] = (), vocab_size: int = 512, template: str = "chatml"
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on ``corpus`` and attach a chat template (``chatml`` or ``llama3``)."""
    if template not in TEMPLATES:
        raise ValueError(f"Unknown template {template!r}; choose one of {', '.join(TEMPLATES)}.")
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r"\d"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator([*_BASE_CORPUS, *corpus], trainer=trainer)
    chat_template, eos = TEMPLATES[template]
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token=eos,
        pad_token="<|pad|>",
        bos_token="<|begin_of_text|>" if template == "llama3" else None,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = chat_template
    return tokenizer


def build_model(
    tokenizer: PreTrainedTokenizerFast,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int = 128,
    max_position_embeddings: int = 4096,
    seed: int = 0,
    **config_kwargs,
) -> Qwen2ForCausalLM:
    """A randomly initialised Qwen2-architecture causal LM sized for ``tokenizer``."""
    import torch

    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        **config_kwargs,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model

"""The demo's text encoder, as a real ``comfy.sd.CLIP``: CLIP Text Encode works unchanged.

The tokenizer finds the digit a prompt names ("7", "seven", "a handwritten 7"); the encoder
looks up that digit's learned cross-attention tokens (trained with the UNet). Text without a
digit, such as the empty negative prompt, gets the learned "no class" tokens: the
unconditional side of classifier-free guidance.
"""

from __future__ import annotations

import torch

import comfy.sd

from .prompt_digits import NUM_TOKENS, digit_in_text, token_for

TOKEN_KEY = "digit"


class DigitTokenizer:
    def __init__(self, embedding_directory=None, tokenizer_data=None, **kwargs):
        pass

    def tokenize_with_weights(self, text: str, return_word_ids: bool = False, **kwargs) -> dict:
        token = token_for(digit_in_text(text))
        return {TOKEN_KEY: [[(token, 1.0, 0) if return_word_ids else (token, 1.0)]]}

    def untokenize(self, token_weight_pair):
        return token_weight_pair

    def state_dict(self) -> dict:
        return {}


class DigitTextEncoder(torch.nn.Module):
    """Learned tokens per class: ``digit_tokens`` is ``[11, tokens, context_dim]`` (row 10 = no class)."""

    def __init__(self, tokens: int = 4, context_dim: int = 32, rows: int = NUM_TOKENS, device=None, dtype=None,
                 model_options=None):
        super().__init__()
        # Always float32: the table is a few KB, and ComfyUI's CPU default for text encoders is fp16.
        self.digit_tokens = torch.nn.Parameter(torch.zeros(rows, tokens, context_dim, device=device))
        self.dtypes = {torch.float32}

    def reset_clip_options(self):
        pass

    def set_clip_options(self, options):
        pass

    def encode_token_weights(self, token_weight_pairs: dict):
        rows = [pair[0] for batch in token_weight_pairs[TOKEN_KEY] for pair in batch]
        cond = self.digit_tokens[torch.tensor(rows, dtype=torch.long, device=self.digit_tokens.device)]
        cond = cond.reshape(len(token_weight_pairs[TOKEN_KEY]), -1, cond.shape[-1])
        return cond, cond.mean(dim=1)

    def load_sd(self, sd):
        return self.load_state_dict(sd, strict=True)


class _Target:
    def __init__(self, tokens: int, context_dim: int, rows: int, tokenizer):
        self.params = {"tokens": tokens, "context_dim": context_dim, "rows": rows}
        self.clip = DigitTextEncoder
        self.tokenizer = tokenizer


def build_clip(digit_tokens: torch.Tensor, tokenizer=DigitTokenizer) -> comfy.sd.CLIP:
    """A CLIP whose encoder holds ``digit_tokens`` (``[11, tokens, context_dim]``; another table
    with a ``tokenizer`` whose rows index it: the video demo's digit + direction rows)."""
    clip = comfy.sd.CLIP(_Target(digit_tokens.shape[1], digit_tokens.shape[2], digit_tokens.shape[0], tokenizer))
    missing, unexpected = clip.load_sd({"digit_tokens": digit_tokens.float()})
    if missing or unexpected:
        raise RuntimeError(f"demo text encoder weights do not fit: missing {missing}, unexpected {unexpected}")
    return clip

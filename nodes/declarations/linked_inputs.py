"""Validation-time check that link-only inputs (MODEL, CONDITIONING, LATENT, SAMPLER) are links.

ComfyUI validates a link's type but lets a literal JSON value through for such an input, and
the node would then fail deep inside sampling with an error that does not name the input.
At validation ComfyUI passes VALIDATE_INPUTS None for a linked input (its value is not known
yet) and the value itself for a literal, so anything but None here is a mistake. (A literal
null cannot be told from a link; it fails when the node runs.)
"""

from __future__ import annotations

LINK_TYPES = {"model": "MODEL", "positive": "CONDITIONING", "negative": "CONDITIONING",
              "latent_image": "LATENT", "inner_sampler_override": "SAMPLER", "clip": "CLIP"}


def literal_link_error(**given) -> bool | str:
    """True, or the message naming the first link-only input that was given a literal value."""
    for name, value in given.items():
        if value is not None:
            return (f"{name} must be connected to a {LINK_TYPES[name]} output; "
                    f"it was given a literal {type(value).__name__} value")
    return True

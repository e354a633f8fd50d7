"""Nested Diffusion for ComfyUI: anytime image generation (Elata et al., WACV 2024, arXiv 2305.19066).

ComfyUI imports this folder as a package and reads the three names below.
"""

import importlib.util

WEB_DIRECTORY = "./web"

if not __package__ or importlib.util.find_spec("comfy") is None:
    # Imported outside ComfyUI, or as a lone module by a test collector: nothing to register
    # (the nodes import their siblings relatively, which needs the folder to be a package).
    NODE_CLASS_MAPPINGS = {}
    NODE_DISPLAY_NAME_MAPPINGS = {}
else:
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]

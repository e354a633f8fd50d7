"""The trained video demo model: 8x8 handwritten digits sliding across a 16x16 canvas, as a real
ComfyUI WAN 2.1 model (tiny config), shipped with the pack.

``clip_shape`` (plain Python) fixes the clip's frames, canvas, frame rate and directions;
``prompt_clips`` (plain Python) reads "7 moving left"; ``video_model`` (needs ComfyUI) builds
MODEL, CLIP and VAE from ``wan_digits.safetensors``. The training clips are made by
``bench/harness/digit_clips_data.py`` (not shipped). Nothing here is imported eagerly.
"""

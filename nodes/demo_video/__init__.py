"""The trained video demo model: 8x8 handwritten digits sliding across a 16x16 canvas, as a real
ComfyUI WAN 2.1 model (tiny config), shipped with the pack.

``digit_clips`` (plain torch; scikit-learn only for the source digits) makes the clips and the
fixed split; ``prompt_clips`` (plain Python) reads "7 moving left"; ``video_model`` (needs
ComfyUI) builds MODEL, CLIP and VAE from ``wan_digits.safetensors``. Nothing here is imported
eagerly.
"""

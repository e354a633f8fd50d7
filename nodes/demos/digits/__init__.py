"""The trained demo model: handwritten digits (scikit-learn's 8x8 set) as a real ComfyUI model.

``demo_model`` (needs ComfyUI) builds MODEL, CLIP and VAE from ``unet.safetensors``. The digit
classifier that judges it is a bench instrument (``bench/harness/digit_classifier.py``), not
shipped. Nothing here is imported eagerly.
"""

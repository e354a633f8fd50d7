"""The trained demo model: handwritten digits (scikit-learn's 8x8 set) as a real ComfyUI model.

``demo_model`` (needs ComfyUI) builds MODEL, CLIP and VAE from ``unet.safetensors``;
``classifier`` (plain torch) is the digit judge used by the tests and benches. Nothing here is
imported eagerly, so the classifier can be used without ComfyUI.
"""

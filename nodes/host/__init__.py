"""Where the pack meets the running ComfyUI: the server and the executing prompt (``access``), and
LATENTs in and out the way the host's own samplers prepare and return them (``latents``)."""

"""What a nested run does inside ComfyUI: the KSAMPLER function around ``nested_core``, its
schedules, model-call plan and progress, stop, pause and steering, the time budget, and the
host's latents."""

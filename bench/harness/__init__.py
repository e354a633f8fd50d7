"""What the bench scripts (and the tests that check them) share; the scripts import only from here.

* ``comfy_host``: the one in-process ComfyUI start (``start``, ``open_demo``, ``pack_module``) and
  the one entry to the helpers shared with the tests (``tests/helpers``, ``tests/host``).
* ``model_calls``: the model-call counters (``ModelCalls``, the forward-hook one).
* judges: ``digit_classifier`` (with its weights), ``video_judge``; and what the quality benches
  report with: ``quality_runs``, ``quality_table``, ``video_filmstrip``.
* data: ``digits_data`` (the digits' fixed split), ``digit_clips_data`` (the video demo's clips).
* ``real_size_models``: real-size random-weight SD 1.5, SDXL and SD3-medium models.
* ``train_schedule``: the trainers' learning-rate schedule and weights EMA.
* ``pack_files``: loads one of the pack's plain modules without importing the pack.

Nothing in here is shipped to users (the registry archive leaves ``bench/`` out; see ``.comfyignore``).
"""

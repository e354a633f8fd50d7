"""The pack's HTTP routes on ComfyUI's PromptServer (stop and keep, pause and steer, the model-call
table the panel reads). Each answers 400, 409 or 200, never 500."""

"""ComfyUI node classes of the pack. Class names are workflow identities: never rename them."""

from .demo_digits.loader_node import NestedDiffusionDemoModel
from .demo_video.loader_node import NestedDiffusionDemoVideoModel
from .ksampler_nodes import NestedKSampler, NestedKSamplerAdvanced
from .model_calls_route import register_model_calls_route
from .sampler_node import SamplerNestedDiffusion
from .steer_route import register_steer_routes
from .stop_route import register_stop_route

register_stop_route()
register_steer_routes()
register_model_calls_route()

NODE_CLASS_MAPPINGS = {
    "SamplerNestedDiffusion": SamplerNestedDiffusion,
    "NestedKSampler": NestedKSampler,
    "NestedKSamplerAdvanced": NestedKSamplerAdvanced,
    "NestedDiffusionDemoModel": NestedDiffusionDemoModel,
    "NestedDiffusionDemoVideoModel": NestedDiffusionDemoVideoModel,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "SamplerNestedDiffusion": "Nested Diffusion Sampler",
    "NestedKSampler": "Nested KSampler",
    "NestedKSamplerAdvanced": "Nested KSampler (Advanced)",
    "NestedDiffusionDemoModel": "Nested Diffusion Demo Model (digits)",
    "NestedDiffusionDemoVideoModel": "Nested Diffusion Demo Video Model (digit clips)",
}

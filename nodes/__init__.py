"""ComfyUI node classes of the pack. Class names are workflow identities: never rename them."""

from .declarations.nested_ksampler import NestedKSampler, NestedKSamplerAdvanced
from .declarations.sampler_nested_diffusion import SamplerNestedDiffusion
from .demos.digits.loader_node import NestedDiffusionDemoModel
from .demos.video.loader_node import NestedDiffusionDemoVideoModel
from .routes.model_calls_route import register_model_calls_route
from .routes.steer_route import register_steer_routes
from .routes.stop_route import register_stop_route

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

"""Published sigma tables and the host's schedulers, re-stated for the tests (no ComfyUI import)."""

from __future__ import annotations

import torch

TRAIN_STEPS = 1000


def sd_alphas_cumprod() -> torch.Tensor:
    """SD-1.5 'scaled_linear' schedule (ComfyUI's 'linear'), cumulated in float64."""
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, TRAIN_STEPS, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


def sd_sigma_table() -> torch.Tensor:
    abar = sd_alphas_cumprod()
    return ((1.0 - abar) / abar).sqrt()


def flow_sigma_table(shift: float = 3.0) -> torch.Tensor:
    """ComfyUI's discrete flow table: sigma(t) = shift*t / (1 + (shift-1)*t), t = i/1000, i = 1..1000."""
    t = torch.arange(1, TRAIN_STEPS + 1, dtype=torch.float64) / TRAIN_STEPS
    return shift * t / (1.0 + (shift - 1.0) * t)


def table_for(path: str) -> torch.Tensor:
    """The sigma table the tests use for a path: SD-1.5's for "ve", the shift-3 flow table for "flow"."""
    return sd_sigma_table() if path == "ve" else flow_sigma_table(3.0)


def start_latent(sigma: float, rows: int, dim: int = 3, seed: int = 0, dtype=torch.float64,
                 device="cpu") -> torch.Tensor:
    """A VE-path starting latent for a run that begins at ``sigma``: seeded N(0, sigma^2) rows."""
    x = torch.randn(rows, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * float(sigma)
    return x.to(dtype=dtype, device=device)


def karras(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """Karras et al. (2022) schedule: n levels from sigma_max to sigma_min, then 0."""
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return torch.cat([(hi + ramp * (lo - hi)) ** rho, torch.zeros(1, dtype=torch.float64)])


def simple_scheduler(table: torch.Tensor):
    """ComfyUI's 'simple' scheduler over a sigma table: every len/steps-th entry from the top, then 0."""

    def build(steps: int) -> torch.Tensor:
        stride = len(table) / steps
        picked = [float(table[-(1 + int(x * stride))]) for x in range(steps)]
        return torch.tensor(picked + [0.0], dtype=torch.float64)

    return build

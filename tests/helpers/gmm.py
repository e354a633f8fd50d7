"""Gaussian mixture data with exact posterior-mean denoisers, and the distribution measures the tests use."""

from __future__ import annotations

import torch


class GaussianMixture:
    """Isotropic components: x0 ~ sum_k w_k N(mu_k, v_k I)."""

    def __init__(self, means, variances, weights):
        self.means = torch.as_tensor(means, dtype=torch.float64)
        k = self.means.shape[0]
        self.variances = torch.as_tensor(variances, dtype=torch.float64).expand(k).clone()
        weights = torch.as_tensor(weights, dtype=torch.float64)
        self.weights = weights / weights.sum()

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def sample(self, count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.multinomial(self.weights, count, replacement=True, generator=generator)
        noise = torch.randn(count, self.dim, generator=generator, dtype=torch.float64)
        return self.means[labels] + self.variances[labels].sqrt()[:, None] * noise, labels

    def posterior_mean(self, x: torch.Tensor, alpha: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """E[x0 | x] for x = alpha*x0 + scale*eps, with alpha and scale given per batch row."""
        flat = x.reshape(x.shape[0], -1)
        dtype, device = flat.dtype, flat.device
        means = self.means.to(dtype=dtype, device=device)
        var = self.variances.to(dtype=dtype, device=device)
        log_w = self.weights.log().to(dtype=dtype, device=device)
        alpha = alpha.to(dtype=dtype, device=device).reshape(-1, 1, 1)
        scale = scale.to(dtype=dtype, device=device).reshape(-1, 1, 1)
        total = alpha**2 * var[None, :, None] + scale**2
        diff = flat[:, None, :] - alpha * means[None]
        log_p = log_w[None] - 0.5 * self.dim * total[..., 0].log() - 0.5 * (diff**2).sum(-1) / total[..., 0]
        resp = torch.softmax(log_p, dim=1)
        per_component = means[None] + (alpha * var[None, :, None] / total) * diff
        return (resp[..., None] * per_component).sum(1).reshape(x.shape)

    def posterior_sample(self, x: torch.Tensor, alpha: float, scale: float, generator: torch.Generator) -> torch.Tensor:
        """An exact draw from p(x0 | x) for x = alpha*x0 + scale*eps (float64, CPU)."""
        total = alpha**2 * self.variances + scale**2
        diff = x[:, None, :] - alpha * self.means[None]
        log_p = self.weights.log()[None] - 0.5 * self.dim * total.log()[None] - 0.5 * (diff**2).sum(-1) / total[None]
        label = torch.multinomial(torch.softmax(log_p, dim=1), 1, generator=generator)[:, 0]
        mean = self.means[label] + (alpha * self.variances / total)[label, None] * diff[torch.arange(len(x)), label]
        std = (self.variances * scale**2 / total).sqrt()[label, None]
        return mean + std * torch.randn(x.shape, generator=generator, dtype=torch.float64)

    def ve_model(self, x: torch.Tensor, sigma: torch.Tensor, **extra_args) -> torch.Tensor:
        """k-diffusion denoiser for x = x0 + sigma*eps."""
        return self.posterior_mean(x, torch.ones_like(sigma), sigma)

    def flow_model(self, x: torch.Tensor, sigma: torch.Tensor, **extra_args) -> torch.Tensor:
        """k-diffusion denoiser for the flow path x = (1-sigma)*x0 + sigma*eps."""
        return self.posterior_mean(x, 1.0 - sigma, sigma)

    def nearest(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dist = torch.cdist(x.to(torch.float64), self.means)
        return dist.min(dim=1)

    def on_mode_fraction(self, x: torch.Tensor, n_std: float = 3.0) -> float:
        dist, label = self.nearest(x)
        return float((dist <= n_std * self.variances[label].sqrt()).double().mean())

    def occupancy(self, x: torch.Tensor) -> torch.Tensor:
        _, label = self.nearest(x)
        return torch.bincount(label, minlength=self.means.shape[0]).double() / x.shape[0]


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, projections: int = 128, seed: int = 0) -> float:
    """Mean over random directions of the 1-D W1 distance between equal-sized samples."""
    if a.shape != b.shape:
        raise ValueError("sliced_wasserstein needs samples of equal shape")
    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(projections, a.shape[1], generator=g, dtype=torch.float64)
    dirs = dirs / dirs.norm(dim=1, keepdim=True)
    pa = (dirs @ a.to(torch.float64).T).sort(dim=1).values
    pb = (dirs @ b.to(torch.float64).T).sort(dim=1).values
    return float((pa - pb).abs().mean())


def sliced_wasserstein_null(gmm: GaussianMixture, count: int, pairs: int = 10, seed: int = 1000) -> tuple[float, float]:
    """Mean and std of the sliced Wasserstein distance between two independent exact samples of
    ``count`` points: differences below mean + a few std cannot be resolved at that sample size."""
    g = torch.Generator().manual_seed(seed)
    values = torch.tensor([sliced_wasserstein(gmm.sample(count, g)[0], gmm.sample(count, g)[0])
                           for _ in range(pairs)])
    return float(values.mean()), float(values.std())


def four_mode_mixture() -> GaussianMixture:
    """Well separated 2-D modes at (+-6, +-6), std 0.5, unequal weights."""
    means = [(6.0, 6.0), (-6.0, 6.0), (-6.0, -6.0), (6.0, -6.0)]
    return GaussianMixture(means, 0.25, [0.4, 0.3, 0.2, 0.1])


def random_mixture(dim: int, components: int, seed: int) -> GaussianMixture:
    """An irregular mixture at latent-like scale (unit order), for the conformance checks."""
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(components, dim, generator=g, dtype=torch.float64)
    variances = 0.05 + 0.3 * torch.rand(components, generator=g, dtype=torch.float64)
    weights = 0.5 + torch.rand(components, generator=g, dtype=torch.float64)
    return GaussianMixture(means, variances, weights)


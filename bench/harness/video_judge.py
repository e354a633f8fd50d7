"""The video demo's judge: the shipped 8x8 digit classifier applied to every frame of a clip, around the digit.

Plain torch (no ComfyUI); the classifier weights need safetensors and the real clips scikit-learn, as
the other benches. For clip latents ``[N, 1, T, 16, 16]`` (``bench/harness/digit_clips_data.py``: the
latent is the clip, 1 = white paper after ``pixels_from_latent``):

* **where the digit is**: the ink centre of mass per frame (ink = how far a pixel is below white,
  less a small floor so a generated clip's faint grey background does not pull it to the centre);
  the classifier's 8x8 crop is the window holding the most ink, ties (windows that differ only by
  blank columns or rows) broken towards the window centred on the centre of mass;
* **per-frame labels** (the classifier on each crop), the clip's majority label, **agreement** (the
  fraction of its frames that carry the majority label) and accuracy against the requested digit;
* **temporal smoothness**, measured the same way on real clips: *flicker*, the mean squared
  difference between consecutive frames' 8x8 crops that follow the centre of mass from one
  anchor per clip (motion-compensated; about 0 on real clips, whose digit never changes), and
  *jerk*, the mean size in pixels of the second difference of the centre-of-mass path (0 on
  real clips, which move one pixel per frame in a straight line); plus the direction the digit
  moved against the requested one;
* **features** for Frechet distances: per frame the classifier's 128-wide penultimate layer; per
  clip the mean of its frame features joined with its centre-of-mass steps (``2 * (T - 1)`` numbers),
  the steps scaled so that, on the reference clips, they carry the same mean variance per number as
  the frame features (otherwise 14 numbers of about one pixel would vanish beside 128 features).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

INK_FLOOR = 0.1          # ink below this (a pixel lighter than 0.9) does not count towards the centre of mass
TIE_WEIGHT = 1e-5        # per squared pixel: smaller than the ink of the faintest load_digits pixel (1/16/64)
DIRECTION_STEPS = torch.tensor([[0.0, -1.0], [0.0, 1.0], [-1.0, 0.0], [1.0, 0.0]])  # left, right, up, down (row, col)


def standalone_modules():
    """(classifier module, training-clips module) of this harness, imported without ComfyUI."""
    from . import digit_classifier, digit_clips_data

    return digit_classifier, digit_clips_data


@dataclass
class Judged:
    """Per-clip results of ``VideoJudge.judge`` (N clips of T frames)."""
    logits: torch.Tensor      # [N, T, 10]
    features: torch.Tensor    # [N, T, F] the classifier's penultimate layer per frame
    crops: torch.Tensor       # [N, T, 1, 8, 8] pixels around the digit, following its centre of mass
    centres: torch.Tensor     # [N, T, 2] ink centre of mass (row, column), pixels

    @property
    def labels(self) -> torch.Tensor:
        return self.logits.argmax(-1)

    @property
    def majority(self) -> torch.Tensor:
        return torch.mode(self.labels, dim=1).values

    @property
    def agreement(self) -> torch.Tensor:
        """[N]: fraction of each clip's frames whose label is the clip's majority label."""
        return (self.labels == self.majority[:, None]).double().mean(1)

    @property
    def steps(self) -> torch.Tensor:
        return self.centres[:, 1:] - self.centres[:, :-1]

    @property
    def flicker(self) -> torch.Tensor:
        """[N]: mean squared difference between consecutive frames' digit crops."""
        return (self.crops[:, 1:] - self.crops[:, :-1]).double().square().flatten(2).mean(2).mean(1)

    @property
    def jerk(self) -> torch.Tensor:
        """[N]: mean length (pixels) of the centre-of-mass path's second difference."""
        return (self.steps[:, 1:] - self.steps[:, :-1]).double().norm(dim=-1).mean(1)

    def moved(self) -> torch.Tensor:
        """[N]: index into left/right/up/down of the digit's mean step (the direction it moved)."""
        return (self.steps.mean(1) @ DIRECTION_STEPS.T).argmax(1)

    def clip_features(self, motion_scale: float) -> torch.Tensor:
        return torch.cat([self.features.mean(1), motion_scale * self.steps.flatten(1)], dim=1)


class VideoJudge:
    def __init__(self, classifier_module=None, clips_module=None, classifier_path=None):
        if classifier_module is None or clips_module is None:
            classifier_module, clips_module = standalone_modules()
        self.clips = clips_module
        self.net = classifier_module.load_classifier(classifier_path)

    @torch.no_grad()
    def judge(self, latents: torch.Tensor) -> Judged:
        if latents.ndim != 5 or latents.shape[1] != 1:
            raise ValueError(f"the video judge takes clip latents [N, 1, T, H, W]; got {tuple(latents.shape)}")
        pixels = self.clips.pixels_from_latent(latents)[:, 0]          # [N, T, H, W]
        n, t, h, w = pixels.shape
        side = self.clips.DIGIT
        frames = pixels.reshape(n * t, 1, h, w)
        ink = (1.0 - frames - INK_FLOOR).clamp(min=0.0)[:, 0]
        mass = ink.sum((1, 2)).clamp(min=1e-8)
        rows = torch.arange(h, dtype=torch.float32)
        cols = torch.arange(w, dtype=torch.float32)
        centre = torch.stack([(ink.sum(2) * rows).sum(1) / mass, (ink.sum(1) * cols).sum(1) / mass], dim=1)
        window_ink = torch.nn.functional.avg_pool2d(1.0 - frames, side, stride=1)[:, 0]   # [n*t, h-7, w-7]
        top = torch.arange(h - side + 1, dtype=torch.float32) + (side - 1) / 2
        left = torch.arange(w - side + 1, dtype=torch.float32) + (side - 1) / 2
        off_centre = ((top[None, :, None] - centre[:, 0, None, None]).square()
                      + (left[None, None, :] - centre[:, 1, None, None]).square())
        best = (window_ink - TIE_WEIGHT * off_centre).flatten(1).argmax(1)
        span = window_ink.shape[-1]
        patches = torch.nn.functional.unfold(frames, side)            # [n*t, 64, windows]
        crops = patches[torch.arange(n * t), :, best].reshape(n * t, 1, side, side)
        # The flicker crops follow the centre of mass from one anchor per clip (the median offset of
        # the classifier's windows from it), so a window that jumps a pixel on noise is no flicker.
        window = torch.stack([best // span, best % span], dim=1).float().reshape(n, t, 2)
        centres = centre.reshape(n, t, 2)
        anchor = (window - centres).median(dim=1, keepdim=True).values
        tracked = (centres + anchor).round().long().clamp(0, span - 1).reshape(n * t, 2)
        tracked_crops = patches[torch.arange(n * t), :, tracked[:, 0] * span + tracked[:, 1]]
        return Judged(logits=self.net(crops).float().reshape(n, t, -1),
                      features=self.net.features(crops).float().reshape(n, t, -1),
                      crops=tracked_crops.reshape(n, t, 1, side, side), centres=centres)


def motion_scale(reference: Judged) -> float:
    """Scale of the centre-of-mass steps in the clip features: equal mean variance per number with
    the frame features, on the reference clips."""
    feature_var = reference.features.mean(1).double().var(0).mean()
    step_var = reference.steps.flatten(1).double().var(0).mean().clamp(min=1e-12)
    return float((feature_var / step_var).sqrt())


def summary(judged: Judged, wanted: torch.Tensor | None = None, directions: torch.Tensor | None = None) -> dict:
    """Means over the clips: agreement, one digit (the share of clips whose majority label holds
    more than half of their frames), flicker, jerk, and (with ``wanted`` digits / ``directions``)
    clip accuracy (majority label), frame accuracy and direction accuracy."""
    out = {"agreement": float(judged.agreement.mean()), "one_digit": float((judged.agreement > 0.5).double().mean()),
           "flicker": float(judged.flicker.mean()),
           "jerk": float(judged.jerk.mean()), "clips": judged.logits.shape[0]}
    if wanted is not None:
        out["accuracy"] = float((judged.majority == wanted).double().mean())
        out["frame_accuracy"] = float((judged.labels == wanted[:, None]).double().mean())
    if directions is not None:
        out["direction"] = float((judged.moved() == directions).double().mean())
    return out


def cat(parts: list[Judged]) -> Judged:
    return Judged(*(torch.cat([getattr(p, f) for p in parts]) for f in ("logits", "features", "crops", "centres")))

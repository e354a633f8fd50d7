"""Steering a nested run between outer steps, and the record that replays it.

The outer process is Markov in (x_t, t): after outer step k, the outer state x_k at its level
fixes the rest of the run. So the paper's user interventions are small operations at an outer
step boundary: *picking* batch items copies their rows of x_k (and of the step's image) into
every row; *changing guidance* (prompt, cfg) changes the model the remaining inner runs call.

A record lists the interventions by the outer step they follow. Replaying a record applies the
same operations at the same boundaries of the same run, so a steered image is reproducible
without pausing. The record carries a fingerprint of the run it was made on and is refused on
any other run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import torch

RECORD_VERSION = 1
MAX_PICKS = 64
MAX_TEXT = 4000
MAX_CFG = 100.0
MAX_RECORD_CHARS = 200_000
CHANGE_KEYS = ("pick", "prompt", "negative", "cfg")
RUN_KEYS = ("seed", "outer_steps", "batch", "inner_sampler", "inner_steps", "schedule")


@dataclass(frozen=True)
class Intervention:
    """What the user changed after outer step ``after`` (1-based); None fields are unchanged."""

    after: int
    pick: tuple[int, ...] | None = None
    prompt: str | None = None
    negative: str | None = None
    cfg: float | None = None

    @property
    def changes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.pick is not None:
            out["pick"] = list(self.pick)
        for key in ("prompt", "negative", "cfg"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    def as_json(self) -> dict[str, Any]:
        return {"after": self.after, **self.changes}


def pick_rows(t: torch.Tensor, picks: tuple[int, ...] | list[int]) -> torch.Tensor:
    """Every batch row takes a picked row, cycling through the picks in order: with picks
    (2, 0) a batch of 4 becomes rows (2, 0, 2, 0)."""
    if not picks:
        raise ValueError("pick needs at least one batch index")
    index = torch.tensor([picks[r % len(picks)] for r in range(t.shape[0])], device=t.device)
    return t.index_select(0, index)


def schedule_digest(sigmas: torch.Tensor) -> str:
    """12 hex digits naming an outer schedule (its float32 values), for the run fingerprint."""
    data = sigmas.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
    return hashlib.sha256(data).hexdigest()[:12]


def run_fingerprint(seed: int | None, sigmas: torch.Tensor, batch: int, inner_sampler: str,
                    inner_steps: int) -> dict[str, Any]:
    return {"seed": None if seed is None else int(seed), "outer_steps": int(sigmas.numel()) - 1,
            "batch": int(batch), "inner_sampler": str(inner_sampler), "inner_steps": int(inner_steps),
            "schedule": schedule_digest(sigmas)}


def check_change(change: Any, *, batch: int, allow_text: bool, allow_cfg: bool, where: str,
                 text_note: str = "") -> dict[str, Any]:
    """The checked changes of one intervention (a dict with any of CHANGE_KEYS), or ValueError
    naming the field and its allowed range."""
    if not isinstance(change, dict):
        raise ValueError(f"{where} must be a JSON object, got {type(change).__name__}")
    unknown = sorted(set(change) - set(CHANGE_KEYS))
    if unknown:
        raise ValueError(f"{where} has unknown keys {unknown[:5]}; allowed: {list(CHANGE_KEYS)}")
    out: dict[str, Any] = {}
    if change.get("pick") is not None:
        pick = change["pick"]
        if (not isinstance(pick, list) or not 1 <= len(pick) <= MAX_PICKS
                or not all(isinstance(p, int) and not isinstance(p, bool) and 0 <= p < batch for p in pick)):
            raise ValueError(f"{where}: pick must be a list of 1 to {MAX_PICKS} batch indices from 0 to "
                             f"{batch - 1} (the batch has {batch} items), got {str(pick)[:200]}")
        out["pick"] = tuple(pick)
    for key in ("prompt", "negative"):
        if change.get(key) is None:
            continue
        text = change[key]
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise ValueError(f"{where}: {key} must be text of at most {MAX_TEXT} characters")
        if not allow_text:
            raise ValueError(f"{where}: {key} cannot be changed here: {text_note or 'no text encoder'}")
        out[key] = text
    if change.get("cfg") is not None:
        cfg = change["cfg"]
        if isinstance(cfg, bool) or not isinstance(cfg, (int, float)) or not 0.0 <= float(cfg) <= MAX_CFG:
            raise ValueError(f"{where}: cfg must be a number from 0 to {MAX_CFG:g}, got {str(cfg)[:50]}")
        if not allow_cfg:
            raise ValueError(f"{where}: cfg cannot be changed here: {text_note or 'the guider owns it'}")
        out["cfg"] = float(cfg)
    return out


def parse_record(text: str) -> dict[str, Any] | None:
    """The record's JSON object, checked for shape (not yet against a run), or None when empty."""
    if text is None or not str(text).strip():
        return None
    if len(text) > MAX_RECORD_CHARS:
        raise ValueError(f"steering is {len(text)} characters long; at most {MAX_RECORD_CHARS}")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ValueError(f"steering must be a steering record (JSON) or empty; it is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError("steering must be a JSON object with version, run and steps, or empty")
    unknown = sorted(set(data) - {"version", "run", "steps"})
    if unknown:
        raise ValueError(f"steering has unknown keys {unknown[:5]}; allowed: ['run', 'steps', 'version']")
    if data.get("version") != RECORD_VERSION:
        raise ValueError(f"steering version must be {RECORD_VERSION}, got {str(data.get('version'))[:20]}")
    run = data.get("run")
    if not isinstance(run, dict) or sorted(run) != sorted(RUN_KEYS):
        raise ValueError(f"steering run must be an object with exactly the keys {sorted(RUN_KEYS)}")
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ValueError("steering steps must be a non-empty list of interventions")
    return data


def interventions_for_run(data: dict[str, Any] | None, fingerprint: dict[str, Any], *, allow_text: bool,
                          allow_cfg: bool, text_note: str = "") -> list[Intervention]:
    """The record's interventions, checked against the run they would replay on."""
    if data is None:
        return []
    differing = [k for k in RUN_KEYS if data["run"].get(k) != fingerprint[k]]
    if differing:
        said = ", ".join(f"{k} {data['run'].get(k)!r} (this run: {fingerprint[k]!r})" for k in differing)
        raise ValueError(f"steering was recorded on a different run: {said}. Set those back, or clear steering "
                         "to run without the recorded interventions")
    outer_steps, batch = fingerprint["outer_steps"], fingerprint["batch"]
    out: list[Intervention] = []
    for n, step in enumerate(data["steps"]):
        where = f"steering step {n + 1}"
        if not isinstance(step, dict):
            raise ValueError(f"{where} must be a JSON object")
        after = step.get("after")
        if isinstance(after, bool) or not isinstance(after, int) or not 1 <= after <= outer_steps - 1:
            raise ValueError(f"{where}: after must be an outer step from 1 to {outer_steps - 1} (a step the "
                             f"run continues after), got {str(after)[:20]}")
        if out and after < out[-1].after:
            raise ValueError(f"{where}: interventions must be in outer-step order (after {after} follows "
                             f"after {out[-1].after})")
        changes = check_change({k: v for k, v in step.items() if k != "after"}, batch=batch,
                               allow_text=allow_text, allow_cfg=allow_cfg, where=where, text_note=text_note)
        if not changes:
            raise ValueError(f"{where} changes nothing; give pick, prompt, negative or cfg")
        out.append(Intervention(after=after, **changes))
    return out


def record_text(fingerprint: dict[str, Any], interventions: list[Intervention]) -> str:
    """The compact JSON record of ``interventions`` on the run ``fingerprint``; "" for none."""
    if not interventions:
        return ""
    return json.dumps({"version": RECORD_VERSION, "run": fingerprint,
                       "steps": [i.as_json() for i in interventions]}, separators=(",", ":"), sort_keys=True)

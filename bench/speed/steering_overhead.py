"""What steering costs a run that is not steered: its time, and whether its images change.

Not a test: it prints figures. Two parts, on tiny real UNets (tests/helpers/tiny_models.py):

1. Time. Real NestedKSampler runs with steering at its defaults (no pause, empty record); the
   pack's steering work in them (building the run's SteeringSession, and its check at every
   outer-step boundary) is timed with perf_counter around exactly those calls, and set against
   the run's wall time and the time of one model call. A load-robust figure: it times only the
   pack's own code, microseconds, however busy the machine is.
2. Images. The same configurations' final latents as SHA-256 digests, with ``--pack DIR``
   naming another copy of the pack (e.g. a checkout of the commit before steering landed): run
   it once per copy and compare the digests (``--digests-only`` skips part 1).

    cd <pack> && COMFYUI_PATH=/path/to/ComfyUI /path/to/comfy/venv/bin/python bench/speed/steering_overhead.py
    ... bench/speed/steering_overhead.py --digests-only --pack /path/to/older/pack
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for the harness
from harness import comfy_host  # noqa: E402

HERE = comfy_host.PACK_ROOT
from harness.results_file import results_path, write_results  # noqa: E402

CONFIGS = [("eps", "euler", "normal", 3, 6, 1), ("eps", "euler_ancestral", "karras", 6, 2, 2),
           ("v_prediction", "dpmpp_2m", "simple", 4, 3, 1), ("flow", "euler", "simple", 10, 1, 2),
           ("eps", "heun", "paper_faithful", 5, 4, 4)]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pack", type=Path, default=HERE, help="the pack folder to load (default: this one)")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--digests-only", action="store_true")
    p.add_argument("--results", help="figures as JSON (default: bench/results/steering_overhead.json for this pack, "
                   "none with --pack)")
    return p.parse_args()


def load(pack: Path):
    module = comfy_host.start(1, pack_root=pack).pack
    return module, module.__name__


def run(nodes, kind, sampler, scheduler, outer, inner, batch):
    import torch

    from tiny_models import build_tiny_model, tiny_conditioning

    model = run.models.setdefault(kind, build_tiny_model(kind))
    out = nodes["NestedKSampler"]().sample(
        model=model, seed=5, outer_steps=outer, inner_steps=inner, cfg=3.0, sampler_name=sampler, scheduler=scheduler,
        positive=tiny_conditioning(1), negative=tiny_conditioning(zero=True),
        latent_image={"samples": torch.zeros(batch, 4, 16, 16)}, denoise=1.0)
    result = out["result"] if isinstance(out, dict) else out
    return result[0]["samples"]


run.models = {}


def digests(nodes) -> list[str]:
    lines = []
    for config in CONFIGS:
        data = run(nodes, *config).contiguous().numpy().tobytes()
        lines.append(f"{' '.join(map(str, config)):40s} {hashlib.sha256(data).hexdigest()[:16]}")
    return lines


def timed(module_name: str, nodes) -> list[str]:
    """Wall time of whole runs, and of the pack's steering calls inside them."""
    steering = importlib.import_module(module_name + ".nodes.runtime.steering_run")
    spent = [0.0]
    session_class = steering.SteeringSession
    original_init, original_call = session_class.__init__, session_class.__call__

    def init(self, *a, **k):
        t = time.perf_counter()
        original_init(self, *a, **k)
        spent[0] += time.perf_counter() - t

    def call(self, *a, **k):
        t = time.perf_counter()
        out = original_call(self, *a, **k)
        spent[0] += time.perf_counter() - t
        return out

    session_class.__init__, session_class.__call__ = init, call
    lines = [f"{'config (kind sampler scheduler outer inner batch)':52s} {'run ms':>9s} {'steering us':>12s} "
             f"{'share':>8s} {'of a call':>9s}"]
    for config in CONFIGS:
        walls, steers = [], []
        run(nodes, *config)  # warm-up
        for _ in range(REPS):
            spent[0] = 0.0
            t = time.perf_counter()
            run(nodes, *config)
            walls.append(time.perf_counter() - t)
            steers.append(spent[0])
        wall, steer = statistics.median(walls), statistics.median(steers)
        calls = config[3] * config[4]
        lines.append(f"{' '.join(map(str, config)):52s} {wall * 1e3:9.1f} {steer * 1e6:12.1f} "
                     f"{steer / wall:8.2e} {steer / (wall / calls):9.2e}")
    session_class.__init__, session_class.__call__ = original_init, original_call
    return lines


def main():
    global REPS
    args = parse_args()
    REPS = args.reps
    module, name = load(args.pack.resolve())
    nodes = module.NODE_CLASS_MAPPINGS
    print("final-latent digests (seed 5, cfg 3, 16x16 latents):")
    figures = {"reps": REPS, "digests": digests(nodes)}
    print("\n".join(figures["digests"]))
    if not args.digests_only:
        print(f"\nsteering work in unsteered runs (medians of {REPS}; 'of a call': steering time / time per "
              "model call):")
        figures["timing"] = timed(name, nodes)
        print("\n".join(figures["timing"]))
    write_results(results_path(args.results, __file__, full=args.pack.resolve() == HERE), figures)


REPS = 5

if __name__ == "__main__":
    main()

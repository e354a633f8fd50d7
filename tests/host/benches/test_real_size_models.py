"""bench/harness/real_size_models.py fills every tensor a checkpoint would load, deterministically:
SD3's ``pos_embed`` buffer is made with ``torch.empty``, and left alone it made the real-size
bench's tiny run end in NaN now and then (whatever memory the buffer got)."""

from __future__ import annotations

import pytest
import torch
from harness import real_size_models as rsm


@pytest.mark.parametrize("key", sorted(rsm.REAL))
def test_every_loaded_tensor_is_filled_finite_and_the_same_each_build(key):
    spec = rsm.spec_for(key, tiny=True)
    states = []
    for _ in range(2):
        patcher, params = rsm.build(spec, torch.float32, "cpu", real=False)
        assert params > 0
        states.append(patcher.model.diffusion_model.state_dict())
    first, second = states
    assert first.keys() == second.keys()
    for name, tensor in first.items():
        if tensor.is_floating_point():
            assert torch.isfinite(tensor).all(), name
            assert torch.equal(tensor, second[name]), f"{name} differs between two builds of the same spec"

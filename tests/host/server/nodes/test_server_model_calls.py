"""GET /nested_diffusion/model_calls: the panel's model-call table comes from the server, the
same table the progress bar and the time budget use, for every sampler the host lists."""

from __future__ import annotations


def test_the_table_lists_every_host_sampler_with_its_calls(nested_none):
    status, body = nested_none.request("GET", "/nested_diffusion/model_calls")
    assert status == 200
    table = body["samplers"]
    listed = nested_none.object_info()["KSampler"]["input"]["required"]["sampler_name"][0]
    assert sorted(table) == sorted(listed)
    assert table["euler"] == {"per_step": 1, "rule": "last_step_one_call"}
    assert table["heun"]["per_step"] == 2 and table["heunpp2"] == {"per_step": 3, "rule": "heunpp2"}
    assert table["dpm_adaptive"]["rule"] == "adaptive"

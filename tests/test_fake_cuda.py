"""The fake GPU used by the device-consistency tests must itself catch what a real GPU catches."""
import copy

import pytest
import torch

from fake_cuda import fake_cuda, to_fake_cuda


def test_cpu_tensor_meeting_fake_gpu_tensor_fails_like_a_gpu():
    with fake_cuda() as dev:
        x = torch.ones(3, device="cuda")
        assert x.device == dev
        with pytest.raises(RuntimeError, match="same device"):
            x + torch.ones(3)
        assert (x + torch.tensor(2.0)).device == dev          # 0-dim CPU tensors are scalars, as on a GPU
        assert (x[torch.tensor([0, 2])]).device == dev        # CPU index tensors are allowed, as on a GPU
        assert torch.equal(x.cpu(), torch.ones(3)) and type(x.cpu()) is torch.Tensor
        with pytest.raises(Exception):
            x.numpy()


def test_random_generators_must_match_the_device():
    with fake_cuda():
        ok = torch.randn(4, device="cuda", generator=torch.Generator(device="cuda").manual_seed(1))
        assert ok.shape == (4,)
        with pytest.raises(RuntimeError, match="generator"):
            torch.randn(4, device="cuda", generator=torch.Generator().manual_seed(1))


def test_generator_runs_on_the_fake_gpu_with_the_cpu_results(tiny_generator):
    from gan_local_edit.core import render, sample_latents
    expected = render(tiny_generator, sample_latents(tiny_generator, seed=3, count=2))
    with fake_cuda() as dev:
        g = to_fake_cuda(copy.deepcopy(tiny_generator))
        assert g.device == dev
        got = render(g, sample_latents(g, seed=3, count=2))
        ws = sample_latents(g, seed=3, count=2).ws.to(dev).requires_grad_(True)
        g.synthesis(ws).square().mean().backward()           # autograd runs on fake tensors
        assert ws.grad is not None and ws.grad.device == dev
    assert torch.allclose(got, expected, atol=1e-6)

"""Test set-up: import the repository as the package ``gan_local_edit`` (as ComfyUI would)."""
import importlib.util
import os
import sys

import pytest
import torch

from helpers import ROOT

if "gan_local_edit" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("gan_local_edit", os.path.join(ROOT, "__init__.py"),
                                                   submodule_search_locations=[ROOT])
    _mod = importlib.util.module_from_spec(_spec)
    sys.modules["gan_local_edit"] = _mod
    _spec.loader.exec_module(_mod)

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def tiny_generator():
    """A small random StyleGAN2 built in-test (fast), with non-trivial biases and noise."""
    from gan_local_edit.core import StyleGAN2Config, StyleGAN2Generator
    torch.manual_seed(0)
    g = StyleGAN2Generator(StyleGAN2Config(z_dim=16, w_dim=16, resolution=16, channels={4: 16, 8: 12, 16: 8},
                                           mapping_layers=2))
    with torch.no_grad():
        for name, p in g.named_parameters():
            if name.endswith("bias") or name.endswith("noise_strength"):
                p.add_(torch.randn_like(p) * 0.2)
    return g.eval().requires_grad_(False)

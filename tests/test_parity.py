"""Loading each reference checkpoint reproduces the reference implementation's outputs."""
import pytest
import torch
from safetensors.torch import load_file

from helpers import fixture_path
from gan_local_edit.core import load_generator

ATOL = RTOL = 1e-4
CASES = [
    ("rosinality_tiny32.pt", "rosinality_tiny32_expected.safetensors"),
    ("nvidia_ada_tiny32_skip.pkl", "nvidia_ada_tiny32_skip_expected.safetensors"),
    ("nvidia_ada_tiny32_resnet_clamp.pkl", "nvidia_ada_tiny32_resnet_clamp_expected.safetensors"),
    ("nvidia_tf_tiny32.pkl", "nvidia_tf_tiny32_expected.safetensors"),
]


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def case(request):
    ckpt, expected = request.param
    return load_generator(fixture_path(ckpt), device="cpu"), load_file(fixture_path(expected))


def test_mapping_matches_reference(case):
    g, e = case
    with torch.no_grad():
        ws = g.mapping(e["z"])
    assert ws.shape == (4, 8, 64)
    ref = e["ws_psi1"] if "ws_psi1" in e else e["w"].unsqueeze(1).expand(-1, 8, -1)
    torch.testing.assert_close(ws, ref, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("psi,key", [(1.0, "img_psi1"), (0.7, "img_psi07")])
def test_images_match_reference(case, psi, key):
    g, e = case
    with torch.no_grad():
        img = g.synthesis(g.mapping(e["z"], truncation_psi=psi), noise_mode="const")
    torch.testing.assert_close(img, e[key], atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("psi,key", [(1.0, "img_psi1"), (0.7, "img_psi07")])
def test_single_sample_path_matches_reference(case, psi, key):
    """Batch size 1 takes the weight-folding path: it must agree too."""
    g, e = case
    with torch.no_grad():
        img = g.synthesis(g.mapping(e["z"][2:3], truncation_psi=psi), noise_mode="const")
    torch.testing.assert_close(img, e[key][2:3], atol=ATOL, rtol=RTOL)


def test_conv_clamp_matches_reference():
    g = load_generator(fixture_path("nvidia_ada_tiny32_resnet_clamp.pkl"), device="cpu")
    e = load_file(fixture_path("nvidia_ada_tiny32_resnet_clamp_clampcheck.safetensors"))
    assert g.cfg.conv_clamp == 256
    with torch.no_grad():
        img = g.synthesis(e["ws_x150"], noise_mode="const")
    assert img.abs().max() == 256
    torch.testing.assert_close(img, e["img_ws_x150"], atol=1e-3, rtol=1e-5)


def test_configs_are_read_from_the_files():
    skip = load_generator(fixture_path("nvidia_ada_tiny32_skip.pkl"))
    resnet = load_generator(fixture_path("nvidia_ada_tiny32_resnet_clamp.pkl"))
    ros = load_generator(fixture_path("rosinality_tiny32.pt"))
    assert (skip.cfg.architecture, resnet.cfg.architecture, ros.cfg.architecture) == ("skip", "resnet", "skip")
    assert (skip.cfg.mapping_layers, resnet.cfg.mapping_layers, ros.cfg.mapping_layers) == (2, 3, 2)
    assert ros.cfg.channels == {4: 64, 8: 64, 16: 64, 32: 64}  # not the standard 512 table
    assert skip.cfg.mapping_lr_mul == pytest.approx(0.01)


def test_tf_pickle_equals_pytorch_pickle_of_same_network():
    tf = load_generator(fixture_path("nvidia_tf_tiny32.pkl"))
    pt = load_generator(fixture_path("nvidia_ada_tiny32_skip.pkl"))
    for (k, a), (k2, b) in zip(sorted(tf.state_dict().items()), sorted(pt.state_dict().items())):
        assert k == k2
        torch.testing.assert_close(a, b, atol=0, rtol=0, msg=k)


@pytest.mark.parametrize("mode", ["random", "none"])
def test_noise_modes_change_the_image(case, mode):
    g, e = case
    with torch.no_grad():
        ws = g.mapping(e["z"])
        img = g.synthesis(ws, noise_mode=mode, generator=torch.Generator().manual_seed(0))
    assert (img - e["img_psi1"]).abs().max() > 0.5

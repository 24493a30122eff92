"""The GANPaint / GAN Dissection Progressive GAN: parity with the reference and its old names."""
import collections

import pytest
import torch
from safetensors.torch import load_file

from helpers import fixture_path
from gan_local_edit.core import load_generator, render, sample_latents, save_generator

ATOL = RTOL = 1e-4


@pytest.fixture(scope="module")
def ref():
    return load_generator(fixture_path("proggan_tiny64.pth"), device="cpu"), \
        load_file(fixture_path("proggan_tiny64_expected.safetensors"))


def test_shapes_come_from_the_weights(ref):
    g, _ = ref
    assert g.architecture == "progan" and g.z_dim == 32 and g.resolution == 64
    assert g.config()["channels"] == [64, 64, 64, 64, 64, 64, 32, 32, 16, 16]
    assert [l.name for l in g.layers()][-1] == "output_64x64"


def test_image_and_layer4_match_the_reference(ref):
    g, e = ref
    with torch.no_grad():
        torch.testing.assert_close(g(e["z"]), e["img"], atol=ATOL, rtol=RTOL)          # [4, 32, 1, 1] input
        torch.testing.assert_close(g(e["z"].view(4, 32)), e["img"], atol=ATOL, rtol=RTOL)
        _, feats = g.synthesis_partial(g.styles(g.mapping(e["z"].view(4, 32))), until="layer4", taps=["layer4"])
    torch.testing.assert_close(feats["layer4"], e["layer4"], atol=ATOL, rtol=RTOL)
    assert e["img"].abs().max() > 2          # no tanh / clamp


def test_resuming_from_the_stored_layer4_reproduces_the_image(ref):
    g, e = ref
    styles = g.styles(g.mapping(e["z"].view(4, 32)))
    with torch.no_grad():
        state, _ = g.synthesis_partial(styles, until="layer4")
        state.x = e["layer4"]
        img = g.synthesis_from_styles(styles, resume=state)
    torch.testing.assert_close(img, e["img"], atol=ATOL, rtol=RTOL)


def test_old_features_names_and_state_dict_wrapper_load(tmp_path, ref):
    g, e = ref
    sd = load_generator(fixture_path("proggan_tiny64.pth")).state_dict()
    old = collections.OrderedDict()
    for k, v in sd.items():
        head, rest = k.split(".", 1)
        old[("output." if head.startswith("output_") else f"features.{int(head[5:]) - 1}.") + rest] = v
    assert "features.0.conv.weight" in old and "output.wscale.b" in old
    path = tmp_path / "old.pth"
    torch.save({"state_dict": old}, path)
    g2 = load_generator(path, device="cpu")
    with torch.no_grad():
        torch.testing.assert_close(g2(e["z"]), e["img"], atol=ATOL, rtol=RTOL)


def test_legacy_container_is_read_with_the_weights_only_loader(monkeypatch):
    calls = []
    real = torch.load

    def spy(*a, **k):
        calls.append(k.get("weights_only"))
        return real(*a, **k)

    monkeypatch.setattr(torch, "load", spy)
    from gan_local_edit.core import sniff_format
    assert sniff_format(fixture_path("proggan_tiny64.pth")) == "torch-legacy"
    load_generator(fixture_path("proggan_tiny64.pth"))
    assert calls == [True]


def test_sampling_rendering_and_safetensors_round_trip(tmp_path, ref):
    g, e = ref
    lat = sample_latents(g, seed=3, count=2)
    img = render(g, lat)
    assert img.shape == (2, 3, 64, 64)
    path = save_generator(g, str(tmp_path / "pg.safetensors"))
    g2 = load_generator(path, device="cpu")
    assert g2.architecture == "progan" and g2.fingerprint() == g.fingerprint()
    torch.testing.assert_close(render(g2, lat), img)


def test_inconsistent_progan_files_give_one_line_errors(tmp_path):
    from gan_local_edit.core import CheckpointError
    sd = load_generator(fixture_path("proggan_tiny64.pth")).state_dict()
    del sd["layer3.wscale.b"]
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="cannot load 'bad.pth'.*layer3.wscale.b") as info:
        load_generator(tmp_path / "bad.pth")
    assert "\n" not in str(info.value)

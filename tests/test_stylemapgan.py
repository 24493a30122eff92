"""StyleMapGAN: parity with the official model (fixture), loading, conversion, latent kinds."""
import argparse

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from helpers import fixture_path
from gan_local_edit.core import (IncompatibleInputError, UnsafeCheckpointError, convert_checkpoint, load_generator,
                                 render, sample_latents)
from gan_local_edit.core.latents import Latents
from gan_local_edit.core.ops.stylemap_edit import stylemap_blend

NAME = "stylemapgan_tiny32.pt"


@pytest.fixture(scope="module")
def smg():
    return load_generator(fixture_path(NAME), device="cpu")


@pytest.fixture(scope="module")
def expected():
    return load_file(fixture_path("stylemapgan_tiny32_expected.safetensors"))


def close(a, b):
    assert a.shape == b.shape
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_the_file_needs_the_namespace_allow_list():
    """Plain weights-only loading refuses it (argparse.Namespace), so the loader's allow-list matters."""
    with pytest.raises(Exception, match="Namespace"):
        torch.load(fixture_path(NAME), weights_only=True)


def test_config_is_read_from_the_weights(smg):
    c = smg.config()
    assert (c["z_dim"], c["style_dim"], c["latent_size"], c["resolution"]) == (16, 16, 8, 32)
    assert c["channels"] == {"8": 64, "16": 48, "32": 32} == c["stylecode_channels"]
    assert c["encoder_channels"] == {"8": 64, "16": 48, "32": 32}
    assert c["mapping_layers"] == 2 and c["normalize_mode"] == "LayerNorm" and c["mapping_lr_mul"] == 0.01
    assert smg.architecture == "stylemapgan" and smg.has_encoder and smg.num_ws == 6
    assert sum(p.numel() for p in smg.parameters()) == 520_723 + 85_648 - 16 * 6 - 16 * 4  # minus blur kernels


def test_sampling_and_decoding_match_the_reference(smg, expected):
    with torch.no_grad():
        close(smg.mapping(expected["z"]), expected["stylemap"])
        close(smg.synthesis(expected["stylemap"]), expected["img"])


def test_encoder_and_reconstruction_match_the_reference(smg, expected):
    with torch.no_grad():
        close(smg.encode(expected["img"]), expected["enc_stylemap"])
        close(smg.synthesis(expected["enc_stylemap"]), expected["recon_img"])


def test_w_space_blend_matches_the_reference_local_edit(smg, expected):
    src = Latents(stylemap=expected["enc_stylemap"][0:1])
    ref = Latents(stylemap=expected["enc_stylemap"][1:2])
    mask = (expected["edit_mask"] > -1).float()       # generate.py's +-2 convention: > -1 is the reference
    out = stylemap_blend(smg, src, ref, mask, space="w")
    close(out.latents.stylemap, expected["edit_stylemap"])
    close(out.images, expected["edit_img"])


def test_stylecodes_and_taps(smg, expected):
    codes = smg.stylecodes(expected["stylemap"][:1])
    assert [tuple(c.shape[1:]) for c in codes] == [(64, 8, 8), (64, 8, 8), (48, 16, 16), (48, 16, 16),
                                                   (32, 32, 32), (32, 32, 32)]
    img, feats = smg.synthesis(expected["stylemap"][:1], taps=["b16", "b32.conv2", "torgb"])
    assert feats["b16"].shape == (1, 48, 16, 16) and torch.equal(feats["torgb"], img)
    assert [l.resolution for l in smg.layers() if l.kind == "block"] == [8, 16, 32]


def test_round_trip_through_safetensors_is_bit_identical(tmp_path, smg, expected):
    dst = convert_checkpoint(fixture_path(NAME), tmp_path / "smg.safetensors")
    with safe_open(dst, framework="pt") as f:
        keys = set(f.keys())
    assert any(k.startswith("encoder.") for k in keys) and any(k.startswith("decoder.") for k in keys)
    back = load_generator(dst)
    assert back.config() == smg.config() and back.fingerprint() == smg.fingerprint()
    for k, v in smg.state_dict().items():
        assert torch.equal(v, back.state_dict()[k]), k
    with torch.no_grad():
        z = expected["z"]
        assert torch.equal(back.mapping(z, truncation_psi=0.7), smg.mapping(z, truncation_psi=0.7))
        assert torch.equal(back.synthesis(expected["stylemap"]), smg.synthesis(expected["stylemap"]))
        assert torch.equal(back.encode(expected["img"]), smg.encode(expected["img"]))


def _resave(tmp_path, drop=(), extra=None):
    with torch.serialization.safe_globals([argparse.Namespace]):
        ck = torch.load(fixture_path(NAME), weights_only=True)
    for k in drop:
        ck.pop(k)
    ck.update(extra or {})
    path = tmp_path / "variant.pt"
    torch.save(ck, path)
    return path


def test_checkpoint_without_encoder_loads_and_refuses_to_project(tmp_path, expected):
    g = load_generator(_resave(tmp_path, drop=["e_ema"]))
    assert not g.has_encoder
    with torch.no_grad():
        close(g.synthesis(expected["stylemap"]), expected["img"])
    with pytest.raises(IncompatibleInputError, match="has no encoder") as e:
        g.encode(expected["img"])
    assert "\n" not in str(e.value)


def test_a_foreign_global_in_the_checkpoint_is_refused(tmp_path):
    import datetime
    with pytest.raises(UnsafeCheckpointError, match="datetime"):
        load_generator(_resave(tmp_path, extra={"note": datetime.timedelta(days=1)}))


def test_sample_and_render_give_stylemaps(smg, expected):
    lat = sample_latents(smg, seed=3, count=2)
    assert lat.stylemap is not None and lat.space == "stylemap" and lat.stylemap.shape == (2, 16, 8, 8)
    assert render(smg, lat).shape == (2, 3, 32, 32)
    assert "stylemap" in lat.describe()


def test_latent_kinds_refuse_the_other_generator_in_one_line(smg, tiny_generator):
    maps = sample_latents(smg, seed=0, count=1)
    ws = sample_latents(tiny_generator, seed=0, count=1)
    for gen, lat, words in ((tiny_generator, maps, "StyleMapGAN stylemap"), (smg, ws, "takes stylemaps")):
        with pytest.raises(IncompatibleInputError, match=words) as e:
            render(gen, lat)
        assert "\n" not in str(e.value)
    with pytest.raises(IncompatibleInputError, match="needs a StyleGAN2"):
        smg.styles(torch.zeros(1, 6, 16))
    with pytest.raises(IncompatibleInputError, match="needs a StyleMapGAN"):
        stylemap_blend(tiny_generator, ws, ws, torch.ones(16, 16))


def test_stylemaps_of_another_model_are_refused(smg):
    lat = Latents(stylemap=torch.zeros(1, 8, 8, 8))
    with pytest.raises(IncompatibleInputError, match="another model"):
        render(smg, lat)


def test_stylegan2_only_operations_refuse_a_stylemapgan_in_one_line(smg):
    from gan_local_edit.core.ops.catalog import build_catalog
    from gan_local_edit.core.ops.directions import pca_directions, sefa_directions
    from gan_local_edit.core.ops.invert import invert
    for run in (lambda: invert(smg, torch.zeros(1, 3, 32, 32)), lambda: build_catalog(smg, n_samples=4, k=2),
                lambda: pca_directions(smg, k=2), lambda: sefa_directions(smg, k=2)):
        with pytest.raises(IncompatibleInputError, match="needs a StyleGAN2.*Encode Image") as e:
            run()
        assert "\n" not in str(e.value)

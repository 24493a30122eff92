"""The StyleGAN2 core: protocol, architectures, resampling, numerics of the fast paths."""
import pytest
import torch

from gan_local_edit.core import StyleGAN2Config, StyleGAN2Generator
from gan_local_edit.core.generators.fir import FIRFilter, make_filter, upfirdn2d_reference


def build(resolution=16, arch="skip", channels=None, clamp=None, **kw):
    torch.manual_seed(1)
    res = [2 ** i for i in range(2, resolution.bit_length())]
    cfg = StyleGAN2Config(z_dim=8, w_dim=8, resolution=resolution, channels=channels or {r: 8 for r in res},
                          mapping_layers=2, architecture=arch, conv_clamp=clamp, **kw)
    return StyleGAN2Generator(cfg).eval().requires_grad_(False)


@pytest.mark.parametrize("taps", [[1, 3, 3, 1], [1, 1], [1, 2, 1], [1, 3, 3, 1, 2, 5]])
def test_fir_upsample_matches_reference(taps):
    f = make_filter(taps)
    x = torch.randn(2, 3, 7, 7)
    k = f.shape[0]
    ref = upfirdn2d_reference(x, f, up=2, pad=((k + 1) // 2, (k - 2) // 2) * 2, gain=4)
    out = FIRFilter(f).upsample2x(x)
    assert out.shape == (2, 3, 14, 14)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_fir_blur_matches_reference_for_asymmetric_filter():
    f = make_filter(torch.arange(16.0).reshape(4, 4) + 1)
    x = torch.randn(1, 2, 9, 9)
    torch.testing.assert_close(FIRFilter(f).blur(x, pad=1, gain=4), upfirdn2d_reference(x, f, pad=(1, 1, 1, 1), gain=4))


@pytest.mark.parametrize("arch", ["orig", "skip", "resnet"])
@pytest.mark.parametrize("resolution", [4, 8, 32])
def test_architectures_and_resolutions(arch, resolution):
    g = build(resolution, arch)
    layers = int(torch.log2(torch.tensor(resolution)))
    assert g.num_ws == 2 * layers - 2
    ws = g.mapping(torch.randn(3, 8))
    assert ws.shape == (3, g.num_ws, 8)
    img = g.synthesis(ws)
    assert img.shape == (3, 3, resolution, resolution) and torch.isfinite(img).all()


def test_resolution_1024_with_a_thin_channel_table():
    g = build(1024, channels={r: 2 for r in [4, 8, 16, 32, 64, 128, 256, 512, 1024]})
    assert g.num_ws == 18
    assert g.synthesis(g.mapping(torch.randn(1, 8))).shape == (1, 3, 1024, 1024)


def test_invalid_configs_are_rejected():
    with pytest.raises(ValueError, match="power of two"):
        build(48)
    with pytest.raises(ValueError, match="architecture"):
        build(8, "progressive")
    with pytest.raises(ValueError, match="lacks resolutions"):
        build(16, channels={4: 8, 8: 8})


def test_w_indexing_follows_nvidia(tiny_generator):
    table = {l.name: l for l in tiny_generator.layers()}
    assert [table[n].w_index for n in ["b4.conv1", "b4.torgb", "b8.conv0", "b8.conv1", "b8.torgb",
                                       "b16.conv0", "b16.conv1", "b16.torgb"]] == [0, 1, 1, 2, 3, 3, 4, 5]
    styled = tiny_generator.styled_layers()
    assert [l.style_index for l in styled] == list(range(len(styled)))


def test_each_ws_row_affects_only_its_layers(tiny_generator):
    g = tiny_generator
    ws = g.mapping(torch.randn(1, 16))
    base = g.styles(ws)
    ws2 = ws.clone()
    ws2[:, 2] += 1.0
    changed = [i for i, (a, b) in enumerate(zip(base, g.styles(ws2))) if not torch.equal(a, b)]
    assert changed == [l.style_index for l in g.styled_layers() if l.w_index == 2]


def test_styles_roundtrip_equals_synthesis(tiny_generator):
    g = tiny_generator
    ws = g.mapping(torch.randn(2, 16))
    torch.testing.assert_close(g.synthesis_from_styles(g.styles(ws)), g.synthesis(ws), atol=0, rtol=0)


def test_single_sample_path_equals_batched_path(tiny_generator):
    g = tiny_generator
    ws = g.mapping(torch.randn(3, 16))
    batched = g.synthesis(ws)
    single = torch.cat([g.synthesis(ws[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(single, batched, atol=1e-5, rtol=1e-5)


def test_truncation(tiny_generator):
    g = tiny_generator
    z = torch.randn(2, 16)
    w1, w0 = g.mapping(z), g.mapping(z, truncation_psi=0.0)
    torch.testing.assert_close(w0, g.w_avg.expand_as(w0))
    cut = g.mapping(z, truncation_psi=0.5, truncation_cutoff=2)
    torch.testing.assert_close(cut[:, 2:], w1[:, 2:])
    torch.testing.assert_close(cut[:, :2], g.w_avg + 0.5 * (w1[:, :2] - g.w_avg))


def test_taps_and_early_stop(tiny_generator):
    g = tiny_generator
    ws = g.mapping(torch.randn(2, 16))
    img, feats = g.synthesis(ws, taps=["b8.conv1", "b16", "b4.torgb"])
    assert feats["b8.conv1"].shape == (2, 12, 8, 8)
    assert feats["b16"].shape == (2, 8, 16, 16)
    assert feats["b4.torgb"].shape == (2, 3, 4, 4)
    torch.testing.assert_close(img, g.synthesis(ws))
    none, early = g.synthesis(ws, taps=["b8.conv1"], return_image=False)
    assert none is None
    torch.testing.assert_close(early["b8.conv1"], feats["b8.conv1"])
    with pytest.raises(KeyError, match="unknown tap"):
        g.synthesis(ws, taps=["b99.conv0"])


def test_bad_shapes_raise_clear_errors(tiny_generator):
    g = tiny_generator
    with pytest.raises(ValueError, match=r"z must be \[B, 16\]"):
        g.mapping(torch.randn(2, 5))
    with pytest.raises(ValueError, match="ws must be"):
        g.synthesis(torch.randn(2, 3, 16))
    with pytest.raises(ValueError, match="noise_mode"):
        g.synthesis(g.mapping(torch.randn(1, 16)), noise_mode="loud")


def test_random_noise_is_seeded(tiny_generator):
    g = tiny_generator
    ws = g.mapping(torch.randn(2, 16))
    a = g.synthesis(ws, noise_mode="random", generator=torch.Generator().manual_seed(3))
    b = g.synthesis(ws, noise_mode="random", generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_gradients_reach_ws_and_weights():
    g = build(16).requires_grad_(True)
    ws = g.mapping(torch.randn(2, 8)).detach().requires_grad_(True)
    g.synthesis(ws).square().mean().backward()
    assert ws.grad.abs().sum() > 0
    assert all(p.grad is not None for n, p in g.named_parameters() if not n.startswith("mapping"))


def test_class_conditional_mapping():
    torch.manual_seed(0)
    g = StyleGAN2Generator(StyleGAN2Config(z_dim=8, w_dim=8, c_dim=3, resolution=8, channels={4: 8, 8: 8},
                                           mapping_layers=2))
    c = torch.eye(3)
    ws = g.mapping(torch.randn(3, 8), c)
    assert ws.shape == (3, g.num_ws, 8)
    with pytest.raises(ValueError, match="class-conditional"):
        g.mapping(torch.randn(1, 8))


def test_fingerprint_tracks_weights(tiny_generator):
    import copy
    g2 = copy.deepcopy(tiny_generator)
    assert g2.fingerprint() == tiny_generator.fingerprint()
    with torch.no_grad():
        g2.synthesis_net.b4.const.add_(1)
    g2.invalidate_fingerprint()
    assert g2.fingerprint() != tiny_generator.fingerprint()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu(tiny_generator):
    import copy
    g = copy.deepcopy(tiny_generator).cuda()
    ws = tiny_generator.mapping(torch.randn(2, 16))
    torch.testing.assert_close(g.synthesis(ws.cuda()).cpu(), tiny_generator.synthesis(ws), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("arch,until", [(a, u) for a in ("skip", "resnet")
                                         for u in ("b4.const", "b8.conv0", "b8.conv1", "b8", "b8.torgb", "b16.conv0")
                                         if not (a == "resnet" and u == "b8.torgb")])
def test_partial_synthesis_resumes_exactly(arch, until):
    g = build(16, arch)
    styles = g.styles(g.mapping(torch.randn(2, 8)))
    full, feats = g.synthesis_from_styles(styles, taps=["b16.conv1"])
    state, part = g.synthesis_partial(styles, until=until, taps=[until])
    assert state.after == until and until in part
    img, rest = g.synthesis_from_styles(styles, taps=["b16.conv1"], resume=state)
    assert torch.equal(img, full) and torch.equal(rest["b16.conv1"], feats["b16.conv1"])


def test_features_only_runs_skip_rgb_but_keep_every_tap(tiny_generator):
    g = tiny_generator
    styles = g.styles(g.mapping(torch.randn(2, 16)))
    taps = ["b8.conv1", "b8.torgb", "b16.conv1"]
    _, full = g.synthesis_from_styles(styles, taps=taps)
    state, early = g.synthesis_partial(styles, until="b8.conv1", taps=["b8.conv1"], track_image=False)
    none, late = g.synthesis_from_styles(styles, taps=taps[1:], resume=state, return_image=False)
    assert none is None and torch.equal(early["b8.conv1"], full["b8.conv1"])
    assert all(torch.equal(late[t], full[t]) for t in taps[1:])
    with pytest.raises(ValueError, match="features only"):
        g.synthesis_from_styles(styles, resume=state)


def test_edits_replace_layer_outputs(tiny_generator):
    g = tiny_generator
    ws = g.mapping(torch.randn(2, 16))
    base = g.synthesis(ws)
    assert torch.equal(g.synthesis(ws, edits={"b8.conv1": lambda x: x}), base)
    changed = g.synthesis(ws, edits={"b8.conv1": lambda x: x * 0})
    assert (changed - base).abs().max() > 0.1
    with pytest.raises(KeyError):
        g.synthesis(ws, edits={"b3": lambda x: x})


def test_style_inputs_are_the_previous_layers(tiny_generator):
    g = tiny_generator
    assert g.style_input_tap("b4.conv1") == "b4.const"
    assert g.style_input_tap("b8.conv0") == "b4"
    assert g.style_input_tap("b8.conv1") == "b8.conv0"
    assert g.style_input_tap("b8.torgb") == "b8"
    _, feats = g.synthesis(g.mapping(torch.randn(1, 16)), taps=["b4.const", "b8.conv0"])
    assert feats["b4.const"].shape == (1, 16, 4, 4)

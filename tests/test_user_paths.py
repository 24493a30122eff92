"""Paths users take that the unit tests of each op missed (issue 18): real photos mixed with
samples, big images, converted models, per-mode defaults, conditional checkpoints, labels."""
import copy

import pytest
import torch
import torch.nn.functional as F

import gan_local_edit as pack
from gan_local_edit.core import IncompatibleInputError, StyleGAN2Config, StyleGAN2Generator
from gan_local_edit.core.formats.loader import load_generator
from gan_local_edit.core.formats.native import save_generator
from gan_local_edit.core.io import load_catalog, save_catalog
from gan_local_edit.core.ops.catalog import build_catalog
from gan_local_edit.core.ops.deformable_match import MatchResult, MatchSettings, detect_roi
from gan_local_edit.core.ops.generate import render, sample_latents
from gan_local_edit.core.ops.invert import InvertSettings, invert
from gan_local_edit.core.ops.latent_paste import PasteSettings, paste
from gan_local_edit.core.ops.match_eval import disc_mask
from gan_local_edit.core.ops.pivotal_tuning import TuneSettings, pivotal_tune
from gan_local_edit.core.ops import style_transfer
from gan_local_edit.core.ops.style_transfer import TransferSettings

NODES = pack.NODE_CLASS_MAPPINGS


@pytest.fixture(scope="module")
def photo(tiny_generator):
    """An 'inverted photo': latents with fitted noise maps, as Invert Image returns them."""
    g = tiny_generator
    img = render(g, sample_latents(g, 7, 1, 0.7))
    lat = invert(g, img, InvertSettings(steps=4, starts=1)).latents
    assert lat.noise
    return lat


@pytest.mark.parametrize("photo_is", ["target", "reference"])
def test_match_and_paste_mix_an_inverted_photo_with_a_sampled_face(tiny_generator, photo, photo_is):
    g = tiny_generator
    face = sample_latents(g, 3, 1, 0.7)
    target, reference = (photo, face) if photo_is == "target" else (face, photo)
    mask = disc_mask(16, 8, 9, 3)
    match, tmask = detect_roi(g, target, reference, mask, settings=MatchSettings(steps=6))
    assert -1.0001 <= match.score <= 1.0001 and tmask.shape == (16, 16)    # whitened features: cosine in [-1, 1]
    res = paste(g, target, reference, mask, match, PasteSettings(steps=3, preview_every=3))
    assert res.steps_done == 3 and torch.isfinite(res.image).all()
    assert res.latents.noise is target.noise          # the target's photo detail (or none) travels on


def test_paste_works_on_the_feature_maps_own_grid(tiny_generator, monkeypatch):
    """No map of the image's size is made for the loss: memory must not grow with the image."""
    g = tiny_generator
    t, r = sample_latents(g, 1, 1, 0.7), sample_latents(g, 2, 1, 0.7)
    roi = MatchResult(centre=(8, 8), scale=1.0, angle=0.0, score=1, ref_centre=(8, 8), grid_size=16)
    sizes = []
    real = F.grid_sample

    def spy(inp, grid, *a, **k):
        sizes.append(tuple(grid.shape[1:3]))
        return real(inp, grid, *a, **k)

    monkeypatch.setattr(F, "grid_sample", spy)
    res = paste(g, t, r, disc_mask(16, 8, 8, 4), roi, PasteSettings(steps=2, feature_layer="b8", preview_every=2))
    assert sizes and set(sizes) == {(8, 8)}, sizes                  # the b8 map, not the 16 px image
    assert res.image.shape[-1] == 16


def test_catalog_accepts_the_float16_conversion_of_its_model(tmp_path, tiny_generator):
    g = tiny_generator
    cat = build_catalog(g, n_samples=12, k=3, seed=1, batch=12)
    half = load_generator(save_generator(g, str(tmp_path / "half.safetensors"), dtype="float16"), device="cpu")
    assert half.fingerprint() != g.fingerprint()                     # not the same bytes ...
    path = save_catalog(cat, str(tmp_path / "c.safetensors"))
    back = load_catalog(path, half)                                  # ... but the same model
    NODES["GLECatalogMask"]().mask(half, back, sample_latents(half, 1, 1, 0.7), "0", False)
    # and a pivotal-tuned copy of the float16 model still uses the float32 model's catalog
    tuned, _, _ = pivotal_tune(half, render(half, sample_latents(half, 2, 1, 0.7)), sample_latents(half, 2, 1, 0.7),
                               TuneSettings(steps=2, lr=1e-2))
    load_catalog(path, tuned)


def test_catalog_refuses_other_models_and_says_why(tmp_path, tiny_generator):
    g = tiny_generator
    path = save_catalog(build_catalog(g, n_samples=12, k=3, seed=1, batch=12), str(tmp_path / "c.safetensors"))
    retrained = copy.deepcopy(g)
    with torch.no_grad():
        w = retrained.mapping_net.fc0.weight               # 1 % changes: far above float16's 0.05 %
        w.mul_(1 + 0.01 * torch.randn(w.shape, generator=torch.Generator().manual_seed(0)))
    retrained.invalidate_fingerprint()
    with pytest.raises(IncompatibleInputError, match="differ beyond float16 rounding"):
        load_catalog(path, retrained)
    torch.manual_seed(1)
    wider = StyleGAN2Generator(StyleGAN2Config(z_dim=16, w_dim=16, resolution=16, channels={4: 16, 8: 12, 16: 8},
                                               mapping_layers=3))
    with pytest.raises(IncompatibleInputError, match="configuration"):
        load_catalog(path, wider)


def test_transfer_defaults_are_per_mode_and_the_node_has_one_control_per_mode(tiny_generator):
    DEFAULT_EPSILON, DEFAULT_LAMBDA = style_transfer.DEFAULT_EPSILON, getattr(style_transfer, "DEFAULT_LAMBDA", None)
    assert TransferSettings("sequential").strength == DEFAULT_EPSILON
    assert TransferSettings("simultaneous").strength == DEFAULT_LAMBDA
    spec = NODES["GLECatalogStyleTransfer"].INPUT_TYPES()
    assert float(spec["optional"]["lambda"][1]["default"]) == DEFAULT_LAMBDA <= 5
    g = tiny_generator
    cat = build_catalog(g, n_samples=12, k=3, seed=1, batch=12)
    t, r = sample_latents(g, 1, 1, 0.7), sample_latents(g, 2, 1, 0.7)
    node = NODES["GLECatalogStyleTransfer"]()
    # simultaneous mode ignores the sequential budget left in 'strength' and uses lambda
    _, a = node.transfer(g, cat, t, r, "0", "simultaneous", "50", 5.0, 0.1)
    _, b = node.transfer(g, cat, t, r, "0", "simultaneous", "7", 5.0, 0.1, **{"lambda": "2"})
    assert a.source["settings"][0]["strength"] == DEFAULT_LAMBDA
    assert all(torch.equal(x, y) for x, y in zip(a.styles, b.styles))
    _, c = node.transfer(g, cat, t, r, "0", "sequential", "30", 5.0, 0.1, **{"lambda": "9"})
    assert c.source["settings"][0]["strength"] == 30


def test_label_node_default_changes_nothing_and_never_repoints(tiny_generator):
    cat = build_catalog(tiny_generator, n_samples=12, k=3, seed=1, batch=12).with_labels({"eyes": (2,)})
    node = NODES["GLELabelCatalogClusters"]()
    default = NODES["GLELabelCatalogClusters"].INPUT_TYPES()["required"]["labels"][1]["default"]
    same, _ = node.label(cat, default)
    assert same.labels == {"eyes": (2,)}
    with pytest.raises(ValueError, match="overwrite"):
        node.label(cat, "eyes: 0; mouth: 1")
    more, _ = node.label(cat, "eyes: 2; mouth: 1")                  # adding, or restating, is fine
    assert more.labels == {"eyes": (2,), "mouth": (1,)}
    moved, _ = node.label(cat, "eyes: 0", overwrite=True)
    assert moved.labels["eyes"] == (0,) and cat.labels["eyes"] == (2,)


def test_class_conditional_checkpoints_are_refused_at_load(tmp_path, monkeypatch):
    torch.manual_seed(0)
    g = StyleGAN2Generator(StyleGAN2Config(z_dim=8, w_dim=8, c_dim=3, resolution=8, channels={4: 8, 8: 8},
                                           mapping_layers=2))
    save_generator(g, str(tmp_path / "cond.safetensors"))
    monkeypatch.setenv("GLE_GAN_MODELS", str(tmp_path))
    with pytest.raises(ValueError, match="class-conditional models .* not supported"):
        NODES["GLELoadGenerator"]().load("cond.safetensors", "cpu")

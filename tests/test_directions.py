"""LELSD directions: the score, the learner, traversal, storage and the global baselines."""
import copy

import pytest
import torch

from gan_local_edit.core import IncompatibleInputError
from gan_local_edit.core.io import load_directions, save_directions
from gan_local_edit.core.ops.catalog import build_catalog
from gan_local_edit.core.ops.directions import (CatalogMasks, Directions, FixedMask, LearnSettings,
                                                apply_directions, learn_directions, localisation_scores,
                                                locality, pca_directions, sefa_directions, traverse)
from gan_local_edit.core.ops.generate import sample_latents


def _box(size=16):
    m = torch.zeros(size, size)
    m[4:10, 4:12] = 1
    return m


@pytest.fixture(scope="module")
def learned(tiny_generator):
    return learn_directions(tiny_generator, FixedMask(_box()), LearnSettings(space="w+", k=2, batches=40, lr=0.05,
                                                                             gamma=1.0, seed=0))


def test_score_is_one_inside_and_zero_outside():
    mask = torch.zeros(2, 1, 8, 8)
    mask[:, :, 2:5, 2:5] = 1
    before = {"a": torch.randn(2, 3, 8, 8), "b": torch.randn(2, 3, 4, 4)}
    inside, outside = {}, {}
    for k, f in before.items():
        m = torch.nn.functional.interpolate(mask, size=f.shape[-2:], mode="bilinear", align_corners=False)
        inside[k] = f + 3 * (m == 1).float()
        outside[k] = f + 3 * (m == 0).float()
    # at 4x4 the resized mask is fractional on the edges; only full cells carry the change
    s_in = localisation_scores(before, inside, mask, mask, ["a"])
    s_out = localisation_scores(before, outside, mask, mask, ["a", "b"])
    assert torch.allclose(s_in, torch.ones(2), atol=1e-5)
    assert float(s_out.max()) < 1e-5


def test_learning_increases_locality(tiny_generator, learned):
    g, src = tiny_generator, FixedMask(_box())
    rand = Directions(space="w+", vectors=torch.nn.functional.normalize(torch.randn(2, learned.vectors.shape[1],
                      generator=torch.Generator().manual_seed(0)), dim=1), scale=learned.scale, meta=learned.meta)
    for i in range(2):
        assert locality(g, learned, i, src, samples=16) > locality(g, rand, i, src, samples=16) + 0.01


def test_k2_directions_decorrelate(learned):
    n = learned.vectors @ learned.vectors.t()
    assert torch.allclose(n.diagonal(), torch.ones(2), atol=1e-5)
    assert abs(float(n[0, 1])) < 0.3


def test_catalog_masks_and_s_space(tiny_generator):
    cat = build_catalog(tiny_generator, n_samples=24, k=4, seed=3, batch=10).with_labels({"part": (1,)})
    d = learn_directions(tiny_generator, CatalogMasks(tiny_generator, cat, "part"),
                         LearnSettings(space="s", batches=3, lr=0.05))
    assert d.space == "s" and d.part == "part" and d.k == 1
    with pytest.raises(ValueError, match="unknown catalog label 'mouth'"):
        CatalogMasks(tiny_generator, cat, "mouth")


def test_save_load_roundtrip_and_refusals(tmp_path, tiny_generator, learned):
    p = str(tmp_path / "d.safetensors")
    save_directions(learned, p)
    back = load_directions(p, tiny_generator)
    assert torch.equal(back.vectors, learned.vectors) and back.space == learned.space
    assert back.scale == learned.scale and back.meta["settings"]["k"] == 2
    other = copy.deepcopy(tiny_generator)
    with torch.no_grad():
        next(other.parameters()).add_(1.0)
    other.invalidate_fingerprint()
    with pytest.raises(IncompatibleInputError, match="this set of directions was built for"):
        load_directions(p, other)
    bad = Directions(space="w", vectors=learned.vectors, meta=learned.meta)
    with pytest.raises(IncompatibleInputError, match="W space has"):
        bad.check_generator(tiny_generator)


def test_traverse_batched_equals_per_alpha(tiny_generator, learned):
    g = tiny_generator
    lat = sample_latents(g, 5, 2, 0.7)
    alphas = [-1.0, 0.0, 2.0]
    strip, moved = traverse(g, lat, learned, 1, alphas)
    assert strip.shape == (6, 3, 16, 16) and moved.batch_size == 6
    for j, a in enumerate(alphas):
        single, _ = traverse(g, lat.select([1]), learned, 1, [a])
        assert torch.allclose(strip[3 + j], single[0], atol=1e-5)
    base, _ = traverse(g, lat, learned, 0, [0.0])
    assert torch.allclose(strip[[1, 4]], base, atol=1e-5)


def test_apply_adds_directions(tiny_generator, learned):
    g = tiny_generator
    lat = sample_latents(g, 5, 2, 0.7)
    out = apply_directions(g, lat, [(learned, 0, 1.5), (learned, 1, -0.5)])
    want = lat.ws + (1.5 * learned.vectors[0] - 0.5 * learned.vectors[1]).view(g.num_ws, g.w_dim) * learned.scale
    assert torch.allclose(out.ws, want, atol=1e-5)
    sd = Directions(space="s", vectors=torch.nn.functional.normalize(torch.randn(1, sum(
        l.style_dim for l in g.styled_layers())), dim=1), scale=2.0, meta=learned.meta)
    mixed = apply_directions(g, lat, [(learned, 0, 1.0), (sd, 0, 1.0)])
    assert mixed.styles is not None and mixed.batch_size == 2
    with pytest.raises(ValueError, match="outside 0..1"):
        apply_directions(g, lat, [(learned, 2, 1.0)])


def test_global_baselines(tiny_generator):
    g = tiny_generator
    s = sefa_directions(g, k=3)
    assert s.space == "w" and s.k == 3
    assert torch.allclose(s.vectors @ s.vectors.t(), torch.eye(3), atol=1e-4)
    ev = s.meta["eigenvalues"]
    assert ev[0] >= ev[1] >= ev[2]
    p = pca_directions(g, k=2, samples=500)
    assert torch.allclose(p.vectors @ p.vectors.t(), torch.eye(2), atol=1e-4)
    # the first PC explains the most variance of the sampled w
    z = torch.randn(500, g.z_dim, generator=torch.Generator().manual_seed(9))
    w = g.mapping(z)[:, 0]
    w = w - w.mean(0)
    var = [(w @ v).var() for v in p.vectors]
    rnd = torch.nn.functional.normalize(torch.randn(g.w_dim, generator=torch.Generator().manual_seed(1)), dim=0)
    assert var[0] > var[1] and var[0] > (w @ rnd).var()


def test_nodes_learn_save_load_traverse_apply(tmp_path, monkeypatch, tiny_generator):
    import gan_local_edit as pack
    nodes = pack.NODE_CLASS_MAPPINGS
    monkeypatch.setenv("GLE_GAN_DIRECTIONS", str(tmp_path))
    g = tiny_generator
    mask = torch.zeros(1, 32, 32)
    mask[:, 8:20, 8:24] = 1
    d, info = nodes["GLELearnLocalDirection"]().learn(g, "w", 2, 2, 0, "box", mask=mask)
    assert d.k == 2 and "2 lelsd direction(s) in W for 'box'" in info
    with pytest.raises(ValueError, match="either a catalog with a label, or a mask"):
        nodes["GLELearnLocalDirection"]().learn(g, "w", 1, 1, 0, "mouth")
    path = nodes["GLESaveDirections"]().save(d, "mine", False)["result"][0]
    assert path.endswith("mine.safetensors")
    back, _ = nodes["GLELoadDirections"]().load("mine.safetensors", g)
    assert torch.equal(back.vectors, d.vectors)
    lat = sample_latents(g, 1, 2, 0.7)
    strip, moved = nodes["GLETraverseDirection"]().traverse(g, lat, back, 1, "-1, 0, 1, 2")
    assert strip.shape == (8, 16, 16, 3) and moved.batch_size == 8
    sefa, _ = nodes["GLEGlobalDirections"]().compute(g, "sefa", 3, "", 0)
    (out,) = nodes["GLEApplyDirections"]().apply(g, lat, back, 0, 1.0, sefa, 2, -0.5)
    want = lat.ws + back.vectors[0] * back.scale - 0.5 * sefa.vectors[2] * sefa.scale
    assert torch.allclose(out.ws, want, atol=1e-5)


def test_default_schedule_learns_at_the_reference_learning_rate(tiny_generator):
    """Adam lr 1e-3 must move a unit direction: an un-normalised start made it a near no-op
    (measured: +0.03 score in 200 batches before, +0.09 after)."""
    g = tiny_generator
    m = torch.zeros(16, 16)
    m[9:12, 5:11] = 1
    src = FixedMask(m)
    d = learn_directions(g, src, LearnSettings(space="w+", batches=200, seed=1))
    start = Directions(space="w+", vectors=torch.nn.functional.normalize(torch.randn(
        1, d.vectors.shape[1], generator=torch.Generator().manual_seed(1)), dim=1), scale=d.scale, meta=d.meta)
    assert d.meta["score_last_tenth"] > d.meta["score_first"] + 0.06
    assert locality(g, d, 0, src, alpha=0.25, samples=16) > locality(g, start, 0, src, alpha=0.25, samples=16) + 0.06


def test_learner_masks_equal_catalog_masks_with_position_channels(tiny_generator):
    """The learner's masks come from the forward's own tap; they must be the Catalog Mask of the label,
    position channels included (they were once computed without them)."""
    from gan_local_edit.core.ops.catalog import cluster_maps
    g = tiny_generator
    cat = build_catalog(g, n_samples=24, k=6, seed=3, batch=12, position_weight=2.0)
    lat = sample_latents(g, 5, 6, 0.7)
    maps = cluster_maps(g, cat, lat)
    ids = tuple(int(i) for i in maps.flatten().unique()[:2])
    src = CatalogMasks(g, cat.with_labels({"part": ids}), "part")
    _, feats = g.synthesis_partial(lat.styles_for(g), until=cat.layer, taps=[cat.layer])
    expected = sum((maps == i).float() for i in ids)[:, None]
    assert torch.equal(src(feats).cpu(), expected)


@pytest.mark.parametrize("source", ["mask", "catalog"])
def test_learning_works_under_inference_mode_as_comfyui_runs_nodes(tiny_generator, source):
    g = tiny_generator
    with torch.inference_mode():
        if source == "mask":
            src = FixedMask(_box())
        else:
            cat = build_catalog(g, n_samples=24, k=4, seed=3, batch=12).with_labels({"part": (1,)})
            src = CatalogMasks(g, cat, "part")
        d = learn_directions(g, src, LearnSettings(space="w+", batches=3))
    assert d.vectors.shape[0] == 1 and torch.isfinite(d.vectors).all()

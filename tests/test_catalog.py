"""Editing in Style: k-means, catalog contributions, local transfer, masks, locality metrics, I/O."""
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

import gan_local_edit as pack
from gan_local_edit.core import IncompatibleInputError
from gan_local_edit.core.io import load_catalog, save_catalog
from gan_local_edit.core.metrics import heatmap, in_out_mse, lab_squared_error, psnr
from gan_local_edit.core.ops.catalog import (build_catalog, catalog_mask, cluster_maps, parse_labels,
                                             resolve_layer)
from gan_local_edit.core.ops.generate import sample_latents
from gan_local_edit.core.ops.kmeans import spherical_kmeans
from gan_local_edit.core.ops.style_transfer import (TransferSettings, local_transfer, query_sequential,
                                                    query_simultaneous)

NODES = pack.NODE_CLASS_MAPPINGS


@pytest.fixture(scope="module")
def catalog(tiny_generator):
    return build_catalog(tiny_generator, n_samples=24, k=4, seed=3, batch=10)


def test_kmeans_normalises_every_row_not_a_prefix():
    gen = torch.Generator().manual_seed(2)
    x = F.normalize(torch.randn(3000, 8, generator=gen), dim=1)
    scaled = x.clone()
    scaled[2000:] *= 5.0                        # only rows past the first thousands are off the sphere
    a, b = spherical_kmeans(x, 4, seed=0, restarts=2), spherical_kmeans(scaled, 4, seed=0, restarts=2)
    assert torch.equal(a.labels, b.labels)
    torch.testing.assert_close(a.centroids, b.centroids)


def test_kmeans_recovers_planted_clusters_exactly():
    gen = torch.Generator().manual_seed(0)
    centres = F.normalize(torch.randn(5, 16, generator=gen), dim=1)
    truth = torch.randint(5, (4000,), generator=gen)
    x = (centres[truth] + 0.05 * torch.randn(4000, 16, generator=gen)) * (1 + torch.rand(4000, 1, generator=gen))
    res = spherical_kmeans(x, 5, seed=1, restarts=3, fit_sample=1000)
    # the clustering equals the truth up to renaming the clusters
    mapping = {int(t): int(res.labels[truth == t][0]) for t in range(5)}
    assert len(set(mapping.values())) == 5
    assert torch.equal(res.labels, torch.tensor([mapping[int(t)] for t in truth]))
    assert torch.allclose(res.centroids.norm(dim=1), torch.ones(5))


def test_kmeans_is_deterministic_for_a_seed():
    x = torch.randn(3000, 8, generator=torch.Generator().manual_seed(2))
    a, b = spherical_kmeans(x, 6, seed=4), spherical_kmeans(x, 6, seed=4)
    assert torch.equal(a.labels, b.labels) and torch.equal(a.centroids, b.centroids)


def test_contributions_are_normalised_per_channel(tiny_generator, catalog):
    assert set(catalog.contributions) == {l.name for l in tiny_generator.styled_layers()}
    for layer in tiny_generator.styled_layers():
        m = catalog.contributions[layer.name]
        assert m.shape == (4, layer.style_dim)
        assert (m >= 0).all() and (m <= 1).all()
        torch.testing.assert_close(m.sum(0), torch.ones(layer.style_dim), atol=1e-5, rtol=0)


def test_contribution_equals_direct_formula(tiny_generator, catalog):
    """Eq. (1) computed the slow way on the same samples equals the streamed statistics."""
    g = tiny_generator
    lat = sample_latents(g, 3, 24, 0.7)
    maps = cluster_maps(g, catalog, lat)
    u = F.one_hot(maps, 4).permute(0, 3, 1, 2).float()
    name = "b16.conv1"
    _, feats = g.synthesis(lat.ws, taps=[g.style_input_tap(name)])
    a = feats[g.style_input_tap(name)]
    a = (a - a.mean(dim=(0, 2, 3), keepdim=True)) / a.std(dim=(0, 2, 3), unbiased=False, keepdim=True)
    ul = F.interpolate(u, size=a.shape[-2:], mode="bilinear", align_corners=False)
    m = torch.einsum("nchw,nkhw->kc", a.square(), ul) / (a.shape[0] * a.shape[2] * a.shape[3])
    torch.testing.assert_close(catalog.contributions[name], m / m.sum(0), atol=1e-4, rtol=1e-4)


def test_catalog_is_deterministic(tiny_generator, catalog):
    again = build_catalog(tiny_generator, n_samples=24, k=4, seed=3, batch=10)
    assert torch.equal(again.centroids, catalog.centroids)
    for name in catalog.contributions:
        assert torch.equal(again.contributions[name], catalog.contributions[name])
    # another batch size changes float rounding only
    other = build_catalog(tiny_generator, n_samples=24, k=4, seed=3, batch=7)
    torch.testing.assert_close(other.centroids, catalog.centroids, atol=1e-5, rtol=1e-5)


def test_layer_resolution(tiny_generator):
    assert resolve_layer(tiny_generator, None) == "b16.conv0"  # nearest to 32 in a 16 px model
    assert resolve_layer(tiny_generator, "8") == "b8.conv0"
    assert resolve_layer(tiny_generator, 4) == "b4.conv1"
    assert resolve_layer(tiny_generator, "b8.conv1") == "b8.conv1"
    with pytest.raises(ValueError, match="not a conv"):
        resolve_layer(tiny_generator, "b8.torgb")


def test_transfer_endpoints_are_exact(tiny_generator, catalog):
    g = tiny_generator
    target, reference = sample_latents(g, 1, 1, 0.7), sample_latents(g, 2, 1, 0.7)
    zero = local_transfer(g, catalog, target, reference, "0", [TransferSettings("simultaneous", 0.0)])
    for a, b in zip(zero.styles, g.styles(target.ws)):
        assert torch.equal(a, b)
    full = catalog.with_labels({"all": (0, 1, 2, 3)})
    one = local_transfer(g, full, target, reference, "all", [TransferSettings("simultaneous", 1e9)])
    for a, b in zip(one.styles, g.styles(reference.ws)):
        assert torch.equal(a, b)


def test_query_vectors():
    m = torch.tensor([0.9, 0.05, 0.6, 0.3, 0.95])
    torch.testing.assert_close(query_simultaneous(m, 2.0), torch.tensor([1.0, 0.1, 1.0, 0.6, 1.0]))
    # sorted: 0.95 (cost .05), 0.9 (.15), 0.6 (.55), 0.3 (1.25), 0.05 (below threshold)
    assert query_sequential(m, 0.6).tolist() == [1, 0, 1, 0, 1]
    assert query_sequential(m, 0.1).tolist() == [0, 0, 0, 0, 1]
    assert query_sequential(m, 100.0, threshold=0.1).tolist() == [1, 0, 1, 1, 1]


def test_sweeps_batch_pair_major(tiny_generator, catalog):
    g = tiny_generator
    t, r = sample_latents(g, 1, 2, 0.7), sample_latents(g, 2, 2, 0.7)
    out = local_transfer(g, catalog, t, r, "1", [TransferSettings("sequential", e) for e in (1, 5, 50)])
    assert out.batch_size == 6
    with pytest.raises(IncompatibleInputError):
        local_transfer(g, catalog, t, sample_latents(g, 2, 3, 0.7), "1", [TransferSettings()])


def test_save_load_roundtrip_is_bit_exact(tmp_path, tiny_generator, catalog):
    cat = catalog.with_labels({"eyes": (1, 3), "mouth": (2,)})
    path = save_catalog(cat, str(tmp_path / "c.safetensors"))
    back = load_catalog(path, tiny_generator)
    assert back.layer == cat.layer and back.labels == cat.labels and back.meta == cat.meta
    for name in ("centroids", "feat_mean", "feat_std"):
        assert torch.equal(getattr(back, name), getattr(cat, name))
    for k, v in cat.contributions.items():
        assert torch.equal(back.contributions[k], v)
    with open(path, "rb") as f:
        assert b"pickle" not in f.read(200)


def test_catalog_refuses_another_generator(tmp_path, tiny_generator, catalog):
    import copy
    other = copy.deepcopy(tiny_generator)
    with torch.no_grad():
        other.synthesis_net.b8.conv1.weight.mul_(1.01)
    other.invalidate_fingerprint()
    path = save_catalog(catalog, str(tmp_path / "c.safetensors"))
    with pytest.raises(IncompatibleInputError, match="built for generator"):
        load_catalog(path, other)


def test_catalog_loader_names_foreign_and_broken_files(tmp_path, tiny_generator, catalog):
    from gan_local_edit.core import CheckpointError, save_generator
    generator_file = save_generator(tiny_generator, str(tmp_path / "g.safetensors"))
    with pytest.raises(CheckpointError, match="is not a GAN Local Edit catalog"):
        load_catalog(generator_file)
    good = save_catalog(catalog, str(tmp_path / "c.safetensors"))
    with open(good, "rb") as f:
        data = f.read()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_catalog(str(cut))


def test_labels_parse_and_validate(catalog):
    assert parse_labels("eyes: 3,7; mouth: 5\nnose:1") == {"eyes": (3, 7), "mouth": (5,), "nose": (1,)}
    for bad in ("eyes 3", "eyes: x", "e/yes: 1", "eyes:"):
        with pytest.raises(ValueError):
            parse_labels(bad)
    with pytest.raises(ValueError, match="outside"):
        catalog.with_labels({"eyes": (9,)})
    with pytest.raises(ValueError, match="unknown catalog label"):
        catalog.cluster_ids("hair")
    assert catalog.cluster_ids("1, 2") == (1, 2)


def test_masks_cover_the_image_by_clusters(tiny_generator, catalog):
    lat = sample_latents(tiny_generator, 9, 3, 0.7)
    masks = [catalog_mask(tiny_generator, catalog, lat, str(k)) for k in range(4)]
    assert masks[0].shape == (3, 16, 16)
    total = sum(masks)
    assert total.min() >= 0 and total.max() <= 2  # thresholded bilinear edges may overlap or gap slightly
    maps = cluster_maps(tiny_generator, catalog, lat)
    assert maps.shape == (3, 16, 16) and maps.max() < 4


def test_locality_metrics():
    a = torch.zeros(2, 3, 8, 8)
    b = a.clone()
    b[:, :, :4] = 0.5
    mask = torch.zeros(2, 8, 8)
    mask[:, :4] = 1
    err = lab_squared_error(a, b)
    inside, outside = in_out_mse(err, mask)
    assert (inside > 10).all() and (outside == 0).all()
    assert heatmap(err).shape == (2, 3, 8, 8)
    assert torch.isinf(psnr(a, a)).logical_not().all() and (psnr(a, b) < psnr(a, a)).all()


def test_catalog_nodes_end_to_end(tmp_path, monkeypatch, tiny_generator):
    monkeypatch.setenv("GLE_GAN_CATALOGS", str(tmp_path))
    g = tiny_generator
    cat, info = NODES["GLEBuildSemanticCatalog"]().build(g, 20, 4, "", 1, 0.7)
    assert "K=4" in info
    cat, _ = NODES["GLELabelCatalogClusters"]().label(cat, "eyes: 1; mouth: 2,3")
    saved = NODES["GLESaveCatalog"]().save(cat, "mine", False)["result"][0]
    assert saved.endswith("mine.safetensors")
    loaded, _ = NODES["GLELoadCatalog"]().load("mine.safetensors", g)
    assert loaded.labels == cat.labels
    t, r = sample_latents(g, 1, 1, 0.7), sample_latents(g, 2, 1, 0.7)
    (prev,) = NODES["GLECatalogClusterPreview"]().preview(g, loaded, t, 0.5)
    assert prev.shape == (1, 256, 256, 3)
    (mask,) = NODES["GLECatalogMask"]().mask(g, loaded, t, "mouth", False)
    imgs, lat = NODES["GLECatalogStyleTransfer"]().transfer(g, loaded, t, r, "mouth", "sequential", "10, 50",
                                                             5.0, 0.1)
    assert imgs.shape == (2, 16, 16, 3) and lat.space == "s"
    (target,) = NODES["GLEGenerateImage"]().generate(g, t, "const", 0)
    out = NODES["GLELocalityReport"]().report(target, imgs, mask)
    heat, text = out["result"]
    assert heat.shape == (2, 16, 16, 3) and "In-MSE" in text and "mean:" in text
    with pytest.raises(ValueError, match="strength"):
        NODES["GLECatalogStyleTransfer"]().transfer(g, loaded, t, r, "mouth", "sequential", "abc", 5.0, 0.1)


def test_shipped_catalog_is_what_the_build_workflow_makes():
    """catalog_build.json labels clusters by number: those numbers must be the shipped catalog's,
    and building with the workflow's settings must give the same clusters in the same order."""
    import json
    import os

    from gan_local_edit.core.embedded import load_embedded_catalog, load_embedded_generator
    g = load_embedded_generator(device="cpu")
    shipped = load_embedded_catalog(g)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "workflows", "catalog_build.json")) as f:
        graph = json.load(f)
    build = next(n["inputs"] for n in graph.values() if n["class_type"] == "GLEBuildSemanticCatalog")
    labels = next(n["inputs"]["labels"] for n in graph.values() if n["class_type"] == "GLELabelCatalogClusters")
    assert parse_labels(labels) == shipped.labels
    with torch.no_grad():
        fresh = build_catalog(g, n_samples=build["n_samples"], k=build["k"], seed=build["seed"],
                              truncation_psi=build["truncation_psi"], layer=build["layer"],
                              position_weight=build["position_weight"])
    cos = F.normalize(fresh.centroids, dim=1) @ F.normalize(shipped.centroids, dim=1).t()
    assert torch.equal(cos.argmax(1), torch.arange(build["k"])) and float(cos.diagonal().min()) > 0.999


def test_position_weight_zero_is_the_plain_paper_kmeans(tiny_generator, catalog):
    """Weight 0 adds no columns and no metadata: centroids and maps equal the plain build bit for bit."""
    plain = build_catalog(tiny_generator, n_samples=24, k=4, seed=3, batch=10, position_weight=0.0)
    assert torch.equal(plain.centroids, catalog.centroids) and "position_weight" not in plain.meta
    assert plain.centroids.shape[1] == plain.feat_mean.shape[0] and plain.position_weight == 0.0
    lat = sample_latents(tiny_generator, 9, 3, 0.7)
    _, out = tiny_generator.synthesis_partial(lat.styles_for(tiny_generator), until=plain.layer, taps=[plain.layer])
    f = out[plain.layer].float()
    rows = F.normalize(((f - plain.feat_mean[:, None, None]) / plain.feat_std[:, None, None]).flatten(2), dim=1)
    direct = (plain.centroids @ rows).argmax(1).view(3, *f.shape[-2:])      # plain cosine nearest centroid
    assert torch.equal(cluster_maps(tiny_generator, plain, lat), direct)


def test_position_weight_is_stored_and_used_for_masks(tmp_path, tiny_generator):
    from gan_local_edit.core.ops.catalog import position_grid
    cat = build_catalog(tiny_generator, n_samples=24, k=4, seed=3, batch=10, position_weight=2.0)
    assert cat.position_weight == 2.0 and cat.centroids.shape[1] == cat.feat_mean.shape[0] + 2
    path = str(tmp_path / "pw.safetensors")
    loaded = load_catalog(save_catalog(cat, path), tiny_generator)
    assert loaded.position_weight == 2.0 and "position weight 2" in loaded.describe()
    lat = sample_latents(tiny_generator, 9, 3, 0.7)
    _, out = tiny_generator.synthesis_partial(lat.styles_for(tiny_generator), until=cat.layer, taps=[cat.layer])
    f = out[cat.layer].float()
    h, w = f.shape[-2:]
    rows = F.normalize(((f - cat.feat_mean[:, None, None]) / cat.feat_std[:, None, None]).flatten(2), dim=1)
    aug = torch.cat([rows, 2.0 * position_grid(h, w).t().expand(3, 2, h * w)], dim=1)   # [B, C+2, P]
    direct = (cat.centroids @ aug).argmax(1).view(3, h, w)
    maps = cluster_maps(tiny_generator, loaded, lat)
    assert torch.equal(maps, direct)
    # the same centroids read without the weight would assign differently somewhere: the weight is used
    blind = replace(loaded, meta={k: v for k, v in loaded.meta.items() if k != "position_weight"})
    assert blind.position_weight == 0.0
    assert not torch.equal(cluster_maps(tiny_generator, blind, lat), maps)


def test_shipped_catalog_has_its_part_labels():
    from gan_local_edit.core.embedded import load_embedded_catalog, load_embedded_generator
    shipped = load_embedded_catalog(load_embedded_generator(device="cpu"))
    assert {"eyes", "nose", "mouth"} <= set(shipped.labels)
    assert shipped.position_weight == 1.0 and shipped.k == 64

"""Inversion and pivotal tuning: accuracy on generated images, safety of the original generator."""
import pytest
import torch
import torch.nn.functional as F

import gan_local_edit as pack
from kornia.metrics import ssim as kornia_ssim
from gan_local_edit.core.metrics import ssim_map
from gan_local_edit.core.imaging import to_bhwc
from gan_local_edit.core.ops.generate import render, sample_latents
from gan_local_edit.core.ops.invert import InvertSettings, invert, noise_regularizer, prepare_images
from gan_local_edit.core.ops.latent_refine import RefineSettings, comparison_resolution, refine_latent
from gan_local_edit.core.ops.pivotal_tuning import TuneSettings, pivotal_tune

NODES = pack.NODE_CLASS_MAPPINGS


@pytest.fixture(scope="module")
def truth(tiny_generator):
    lat = sample_latents(tiny_generator, 21, 2, 0.7)
    return lat, render(tiny_generator, lat)


def test_w_plus_inversion_reconstructs_generated_images(tiny_generator, truth):
    lat, img = truth
    res = invert(tiny_generator, img, InvertSettings(space="w+", steps=120, starts=2, optimize_noise=False))
    assert min(res.psnr) > 25
    assert res.latents.ws.shape == lat.ws.shape and res.latents.space == "w+"
    torch.testing.assert_close(render(tiny_generator, res.latents), res.reconstruction, atol=1e-5, rtol=1e-5)
    assert len(res.start_losses) == 2 and len(res.start_losses[0]) == 2


def test_inversion_depends_on_its_seed_only(tiny_generator, truth):
    _, img = truth
    runs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)  # other code drawing from the global generator must not matter
        runs.append(invert(tiny_generator, img, InvertSettings(space="w+", steps=10, starts=2, seed=5)).latents.ws)
    assert torch.equal(runs[0], runs[1])


def test_fitted_noise_travels_with_the_latents(tiny_generator, truth):
    lat, img = truth
    res = invert(tiny_generator, img, InvertSettings(space="w", steps=30, starts=1, optimize_noise=True))
    assert set(res.latents.noise) == set(tiny_generator.noise_layers())
    for n in res.latents.noise.values():  # renormalised white noise
        assert abs(float(n.mean())) < 1e-4 and abs(float(n.std()) - 1) < 0.05
    torch.testing.assert_close(render(tiny_generator, res.latents), res.reconstruction, atol=1e-5, rtol=1e-5)
    assert res.latents.select(1).noise[next(iter(res.latents.noise))].shape[0] == 1


def test_preprocessing_crops_and_checks():
    x, crop = prepare_images(torch.zeros(1, 3, 40, 60), 16)
    assert x.shape == (1, 3, 16, 16) and crop["left"] == 10 and crop["size"] == 40
    with pytest.raises(ValueError, match="alpha"):
        prepare_images(torch.zeros(1, 4, 32, 32), 16)
    with pytest.raises(ValueError, match="too small"):
        prepare_images(torch.zeros(1, 3, 8, 8), 16)


def test_pivotal_tuning_improves_a_copy_only(tiny_generator, truth):
    lat, img = truth
    g = tiny_generator
    state = {k: v.clone() for k, v in g.state_dict().items()}
    fp = g.fingerprint()
    res = invert(g, img, InvertSettings(space="w", steps=20, starts=1, optimize_noise=False))
    tuned, before, after = pivotal_tune(g, img, res.latents, TuneSettings(steps=30, lr=1e-3))
    assert after > before
    assert all(torch.equal(state[k], v) for k, v in g.state_dict().items()) and g.fingerprint() == fp
    assert tuned.fingerprint() != fp and tuned.base_fingerprint == fp and tuned.name.endswith("-pti")
    with pytest.raises(ValueError, match="one pivot per image"):
        pivotal_tune(g, img, res.latents.select(0), TuneSettings(steps=1))


def test_invert_nodes_under_inference_mode(tiny_generator, truth):
    _, img = truth
    image = to_bhwc(img)
    with torch.inference_mode():
        lat, recon, report = NODES["GLEInvertImage"]().invert(tiny_generator, image, "W+", 10, 0, 2, True)
        tuned, text = NODES["GLEPivotalTune"]().tune(tiny_generator, image, lat, 5, 1e-3)
        (again,) = NODES["GLEGenerateImage"]().generate(tuned, lat, "const", 0)
    assert recon.shape == image.shape and "PSNR" in report and "->" in text and again.shape == image.shape
    with torch.inference_mode():
        _, _, polished = NODES["GLEInvertImage"]().invert(tiny_generator, image, "W", 5, 0, 1, False, refine_steps=1)
    assert "Levenberg-Marquardt polish" in polished
    with pytest.raises(ValueError, match="alpha"):
        NODES["GLEInvertImage"]().invert(tiny_generator, torch.zeros(1, 16, 16, 4), "W", 1, 0, 1, False)


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    """A VGG16 state dict in torchvision's layout with random weights (the real one cannot be downloaded)."""
    from gan_local_edit.core.ops.perceptual import VGG16Features
    torch.manual_seed(0)
    state = {k: v for k, v in VGG16Features().state_dict().items() if k.startswith("features.")}
    state["classifier.0.weight"] = torch.zeros(4, 4)       # extra entries of the real file are ignored
    path = tmp_path_factory.mktemp("perceptual") / "vgg16.pth"
    torch.save(state, str(path))
    return path


def test_vgg16_file_loads_and_measures_a_distance(vgg_file):
    from gan_local_edit.core.ops.perceptual import load_vgg16
    net = load_vgg16(str(vgg_file))
    a, b = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    stages = net.stages(a)
    assert [s.shape[-1] for s in stages] == [64, 32, 16, 8, 4]       # small images are up-sampled
    assert torch.all(net.distance(a, stages) < 1e-6) and torch.all(net.distance(b, stages) > 1e-3)


def test_vgg16_loader_refuses_other_files(tmp_path, vgg_file):
    from gan_local_edit.core import CheckpointError
    from gan_local_edit.core.ops.perceptual import load_vgg16
    state = torch.load(str(vgg_file), weights_only=True)
    del state["features.28.weight"]
    torch.save(state, str(tmp_path / "partial.pth"))
    with pytest.raises(CheckpointError, match="not a torchvision VGG16"):
        load_vgg16(str(tmp_path / "partial.pth"))
    state = torch.load(str(vgg_file), weights_only=True)
    state["features.0.weight"] = torch.zeros(64, 3, 5, 5)
    torch.save(state, str(tmp_path / "shape.pth"))
    with pytest.raises(CheckpointError, match="VGG16 needs"):
        load_vgg16(str(tmp_path / "shape.pth"))
    import os
    import pickle
    (tmp_path / "evil.pth").write_bytes(pickle.dumps(os.system, protocol=2))     # a global that must never load
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_vgg16(str(tmp_path / "evil.pth"))


def test_invert_node_uses_a_vgg16_file_under_inference_mode(monkeypatch, vgg_file, tiny_generator, truth):
    monkeypatch.setenv("GLE_GAN_PERCEPTUAL", str(vgg_file.parent))
    node = NODES["GLEInvertImage"]
    assert "vgg16.pth" in node.INPUT_TYPES()["optional"]["vgg16"][0]
    import gan_local_edit.core.ops.perceptual as perceptual
    from gan_local_edit.core.formats.cache import clear_cache
    builds = []
    real_build = perceptual._build
    monkeypatch.setattr(perceptual, "_build", lambda *a: builds.append(a) or real_build(*a))
    clear_cache()
    _, img = truth
    for _ in range(2):
        with torch.inference_mode():   # as ComfyUI runs nodes
            lat, recon, report = node().invert(tiny_generator, to_bhwc(img[:1]), "W+", 3, 0, 1, False,
                                               vgg16="vgg16.pth")
        assert recon.shape == (1, 16, 16, 3) and "PSNR" in report and not lat.ws.requires_grad
    assert len(builds) == 1          # the file is read once while it is unchanged


def test_stacked_ssim_equals_kornia_reference():
    gen = torch.Generator().manual_seed(3)
    for shape in [(2, 3, 64, 64), (1, 1, 16, 16), (3, 3, 32, 24)]:
        x = torch.rand(shape, generator=gen)
        y = (x + 0.2 * torch.randn(shape, generator=gen)).clamp(0, 1)
        assert torch.allclose(ssim_map(x, y, 7), kornia_ssim(x, y, 7), atol=1e-6)


def test_grouped_noise_regulariser_scores_every_map_on_its_own():
    gen = torch.Generator().manual_seed(4)
    maps = [torch.randn(2, 1, 16, 16, generator=gen) for _ in range(3)] + [torch.randn(2, 1, 8, 8, generator=gen)]
    single = sum(noise_regularizer([m]) for m in maps)
    grouped = noise_regularizer([torch.cat(maps[:3], dim=1), maps[3]])
    assert torch.allclose(single, grouped, rtol=1e-5, atol=1e-9)
    smooth = F.avg_pool2d(torch.randn(1, 1, 18, 18, generator=gen), 3, stride=1)   # correlated neighbours
    smooth = smooth / smooth.std()
    assert noise_regularizer([smooth]) > 10 * noise_regularizer([maps[0][:1]])


def _corr(a, b):
    return float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1])


def test_levenberg_marquardt_polish_recovers_the_latent_that_made_the_image(tiny_generator, truth):
    g = tiny_generator
    lat, img = truth
    w_true = lat.ws[0, :1]
    start = w_true + 0.5 * torch.randn(w_true.shape, generator=torch.Generator().manual_seed(3))
    assert _corr(start, w_true) < 0.97
    w, history = refine_latent(g, start, img[0], settings=RefineSettings(steps=8))
    assert all(b < a for a, b in zip(history, history[1:]))          # only improving steps are taken
    assert history[-1] < 1e-4 * history[0]
    assert _corr(w, w_true) > 0.999 and w.shape == start.shape


def test_polish_compares_large_jacobians_down_sampled_and_never_worsens(tiny_generator, truth):
    g = tiny_generator
    lat, img = truth
    assert comparison_resolution(16, 3, 16, 1 << 26) == 16
    assert comparison_resolution(1024, 3, 512, 1 << 26) == 128
    start = lat.ws[1] + 0.3                                           # W+: every row
    w, history = refine_latent(g, start, img[1], settings=RefineSettings(steps=2, max_jacobian_entries=3 * 64 * 160))
    assert w.shape == start.shape and history[-1] <= history[0]
    with pytest.raises(ValueError, match="rows"):
        refine_latent(g, lat.ws[0, :3], img[0])


def test_inversion_with_polish_fits_better_and_reports_progress(tiny_generator, truth):
    lat, img = truth
    base = InvertSettings(space="w", steps=20, starts=2, optimize_noise=False)
    plain = invert(tiny_generator, img, base)
    calls = []
    polished = invert(tiny_generator, img, InvertSettings(space="w", steps=20, starts=2, optimize_noise=False,
                                                          refine_steps=3),
                      on_step=lambda done, total, preview=None: calls.append((done, total)))
    assert all(p > q + 1 for p, q in zip(polished.psnr, plain.psnr))
    assert all(after > before for before, after in polished.refine_psnr) and "Levenberg" in polished.report()
    assert {t for _, t in calls} == {20 + 2 * 3} and max(d for d, _ in calls) <= 26
    assert polished.latents.source["refine_steps"] == 3
    torch.testing.assert_close(render(tiny_generator, polished.latents), polished.reconstruction, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="refine_steps"):
        InvertSettings(refine_steps=-1)

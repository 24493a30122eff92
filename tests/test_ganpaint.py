"""GANPaint: the feature-map view, dissection, paint, image-specific adaptation, unit tables."""
import pytest
import torch
import torch.nn.functional as F

from helpers import fixture_path
from gan_local_edit.core import IncompatibleInputError, load_generator
from gan_local_edit.core.generators.adapted import AdaptedGenerator
from gan_local_edit.core.io import load_units, save_units
from gan_local_edit.core.metrics import psnr
from gan_local_edit.core.ops.adapt import AdaptSettings, adapt_to_image
from gan_local_edit.core.ops.dissect import dissect, unit_quantiles
from gan_local_edit.core.ops.featuremap import codes_for, feature_layers, fine_layers, resume, run_to, with_features
from gan_local_edit.core.ops.generate import render, sample_latents
from gan_local_edit.core.ops.paint import PaintCanvas, Stroke, apply_strokes, paint

LAYER = "b8.conv1"


@pytest.fixture(scope="module")
def progan():
    return load_generator(fixture_path("proggan_tiny64.pth"), device="cpu")


def _unit_masks(g, lat, layer, units):
    """Concept masks that ARE the thresholded up-sampled activation of given units (IoU 1 expected)."""
    _, x = run_to(g, codes_for(g, lat), layer, image=False)
    q = unit_quantiles(x)
    up = F.interpolate(x, size=(g.resolution, g.resolution), mode="bilinear", align_corners=False)
    return {f"u{u}": (up[:, u] > q[u]).float() for u in units}


@pytest.fixture(scope="module")
def table(tiny_generator):
    g = tiny_generator
    lat = sample_latents(g, 11, 12)
    return dissect(g, LAYER, _unit_masks(g, lat, LAYER, [3, 7]), lat, batch=5)


@pytest.mark.parametrize("which", ["stylegan2", "progan"])
def test_run_to_edit_resume_is_one_synthesis(which, tiny_generator, progan):
    g = tiny_generator if which == "stylegan2" else progan
    layer = LAYER if which == "stylegan2" else "layer4"
    lat = sample_latents(g, 3, 2)
    codes = codes_for(g, lat)
    with torch.no_grad():
        full = render(g, lat)
        state, x = run_to(g, codes, layer)
        torch.testing.assert_close(resume(g, codes, state).cpu(), full)
        doubled = resume(g, codes, with_features(state, 2 * x + 1))   # (ProGAN pixel-normalises: a pure scale is a no-op)
        direct = g.synthesis_from_styles(codes.styles, edits={layer: lambda t: 2 * t + 1})
    torch.testing.assert_close(doubled, direct)
    assert not torch.allclose(doubled, full)
    assert layer in feature_layers(g)


def test_default_fine_layers_follow_the_reference(progan, tiny_generator):
    assert fine_layers(progan, "layer4") == ["layer8", "layer10"]
    assert fine_layers(tiny_generator, "b8.conv1") == ["b16.conv0", "b16.conv1"]


def test_dissection_finds_the_unit_that_makes_a_concept(table):
    assert int(table.ranking["u3"][0]) == 3 and float(table.iou["u3"][0]) == pytest.approx(1.0)
    assert int(table.ranking["u7"][0]) == 7 and float(table.iou["u7"][0]) == pytest.approx(1.0)
    assert float(table.iou["u3"][1]) < 0.9
    assert torch.all(table.iou["u3"][:-1] >= table.iou["u3"][1:])


def test_quantile_is_the_099_quantile():
    x = torch.randn(10, 4, 8, 8)
    q = unit_quantiles(x)
    frac = (x > q.view(1, 4, 1, 1)).float().mean(dim=(0, 2, 3))
    assert torch.all((frac > 0.005) & (frac < 0.015))


def test_paint_sets_the_selected_units_in_the_region_only(table, tiny_generator):
    g = tiny_generator
    lat = sample_latents(g, 4, 2)
    mask = torch.zeros(16, 16)
    mask[:8, :8] = 1
    canvas = PaintCanvas(g, table, lat)
    units = table.units("u3", "low")
    x0 = canvas.features
    drawn = canvas.edited_features([Stroke("u3", mask, "draw", "low")])
    removed = canvas.edited_features([Stroke("u3", mask, "remove", "low"), Stroke("u7", mask, "draw", 2)])
    inside = (slice(None), units, slice(0, 4), slice(0, 4))
    assert torch.allclose(drawn[inside], table.quantiles[units].view(1, -1, 1, 1).expand(2, -1, 4, 4))
    other = [u for u in range(x0.shape[1]) if u not in units.tolist()]
    assert torch.equal(drawn[:, other], x0[:, other]) and torch.equal(drawn[:, :, 4:], x0[:, :, 4:])
    assert torch.all(removed[:, table.units("u3", "low")[2:], :4, :4] == 0)
    img = canvas.render([Stroke("u3", mask, "draw", "high")])
    assert img.shape == (2, 3, 16, 16) and not torch.allclose(img, render(g, lat))
    torch.testing.assert_close(img, paint(g, table, lat, [Stroke("u3", mask, "draw", "high")]))


def test_copy_mode_takes_the_reference_features(table, tiny_generator):
    g = tiny_generator
    lat, ref = sample_latents(g, 4, 1), sample_latents(g, 9, 1)
    canvas = PaintCanvas(g, table, lat, reference=ref)
    x = canvas.edited_features([Stroke("u7", torch.ones(16, 16), "copy", 3)])
    u = table.units("u7", 3)
    torch.testing.assert_close(x[:, u], canvas.reference[:, u])


@pytest.mark.parametrize("stroke,match", [
    (Stroke("u3", torch.zeros(16, 16)), "empty"),
    (Stroke("u3", torch.ones(32, 32)), "16x16"),
    (Stroke("nose", torch.ones(16, 16)), "no concept 'nose'"),
    (Stroke("u3", torch.ones(16, 16), "paint"), "mode"),
    (Stroke("u3", torch.ones(16, 16), "copy"), "reference"),
])
def test_bad_strokes_give_one_line_errors(table, tiny_generator, stroke, match):
    with pytest.raises(ValueError, match=match) as info:
        paint(tiny_generator, table, sample_latents(tiny_generator, 1, 1), [stroke])
    assert "\n" not in str(info.value)


def test_unit_table_round_trip_and_other_generator_refused(tmp_path, table, tiny_generator, progan):
    path = save_units(table, str(tmp_path / "units.safetensors"))
    back = load_units(path, tiny_generator)
    assert back.layer == table.layer and back.concepts == table.concepts
    assert torch.equal(back.ranking["u3"], table.ranking["u3"]) and torch.equal(back.quantiles, table.quantiles)
    with pytest.raises(IncompatibleInputError, match="unit table was built for") as info:
        load_units(path, progan)
    assert "\n" not in str(info.value)
    with pytest.raises(IncompatibleInputError):
        paint(progan, table, sample_latents(progan, 1, 1), [Stroke("u3", torch.ones(64, 64))])


def _photo(g):
    return render(g, sample_latents(g, 21, 1)), sample_latents(g, 22, 1)      # a photo G cannot make from z


def test_adaptation_fits_the_unedited_pixels(tiny_generator):
    g = tiny_generator
    photo, lat = _photo(g)
    mask = torch.zeros(16, 16)
    mask[4:10, 4:10] = 1
    res = adapt_to_image(g, photo, lat, mask, AdaptSettings(steps=40, after=LAYER, record=(10, 40)))
    assert isinstance(res.generator, AdaptedGenerator)
    assert res.psnr_end > res.psnr_start + 5 and set(res.psnr_at) == {10, 40}
    out = render(res.generator, lat)
    keep = 1 - mask
    err_out = ((out - photo).square() * keep).sum() / keep.sum()
    err_in = ((out - photo).square() * mask).sum() / mask.sum()
    assert err_out < err_in                              # the edited region was left out of the loss
    zero = adapt_to_image(g, photo, lat, settings=AdaptSettings(steps=0, after=LAYER)).generator
    torch.testing.assert_close(render(zero, lat), render(g, lat))
    assert zero.base is g and res.generator.base_fingerprint == g.fingerprint()


def test_adaptation_caches_the_early_layers(tiny_generator, monkeypatch):
    g = tiny_generator
    photo, lat = _photo(g)
    calls = {"b4": 0, "b16": 0}
    block4, block16 = g.synthesis_net.b4.conv1, g.synthesis_net.b16.conv1
    monkeypatch.setattr(block4, "forward", _counting(block4.forward, calls, "b4"))
    monkeypatch.setattr(block16, "forward", _counting(block16.forward, calls, "b16"))
    adapt_to_image(g, photo, lat, settings=AdaptSettings(steps=7, after=LAYER))
    assert calls["b4"] == 1 and calls["b16"] >= 7


def _counting(fn, calls, key):
    def wrapped(*a, **k):
        calls[key] += 1
        return fn(*a, **k)
    return wrapped


def test_adapted_generator_paints_and_warm_starts(tiny_generator, table):
    g = tiny_generator
    photo, lat = _photo(g)
    fast = adapt_to_image(g, photo, lat, settings=AdaptSettings(steps=30, after=LAYER))
    mask = torch.zeros(16, 16)
    mask[:6] = 1
    strokes = [Stroke("u3", mask, "remove", "low")]
    painted = paint(fast.generator, table, lat, strokes)            # a preview with no further steps
    keep = (1 - mask).bool().expand(1, 3, 16, 16)

    def kept_psnr(img):
        return float(psnr(img[keep].view(1, -1), photo[keep].view(1, -1)))

    assert not torch.allclose(painted, render(fast.generator, lat))
    assert kept_psnr(painted) > kept_psnr(paint(g, table, lat, strokes)) + 3
    warm = adapt_to_image(fast.generator, photo, lat, mask, AdaptSettings(steps=5, after=LAYER))
    assert warm.psnr_start > fast.psnr_start + 3 and warm.generator.base is g


def test_adaptation_stops_when_cancelled(tiny_generator):
    photo, lat = _photo(tiny_generator)

    class Cancelled(Exception):
        pass

    def on_step(done, total, preview):
        if done == 3:
            raise Cancelled

    with pytest.raises(Cancelled):
        adapt_to_image(tiny_generator, photo, lat, settings=AdaptSettings(steps=100, after=LAYER), on_step=on_step)


def test_adaptation_bad_inputs(tiny_generator):
    photo, lat = _photo(tiny_generator)
    with pytest.raises(ValueError, match="one photo at a time"):
        adapt_to_image(tiny_generator, photo.repeat(2, 1, 1, 1), lat, settings=AdaptSettings(steps=1))
    with pytest.raises(ValueError, match="photo's size"):
        adapt_to_image(tiny_generator, photo, lat, torch.ones(8, 8), AdaptSettings(steps=1))
    with pytest.raises(ValueError, match="whole photo"):
        adapt_to_image(tiny_generator, photo, lat, torch.ones(16, 16), AdaptSettings(steps=1))


def test_the_photo_chain_runs_on_the_progan(progan):
    """Dissect -> adapt (layer8, layer10) -> paint at layer4 on the GANPaint Progressive GAN (the photo's
    code is another sample's z: Invert Image is StyleGAN2-only)."""
    g = progan
    photo, lat = render(g, sample_latents(g, 5, 1)), sample_latents(g, 6, 1)
    samples = sample_latents(g, 8, 6)
    table = dissect(g, "layer4", _unit_masks(g, samples, "layer4", [5]), samples)
    assert int(table.ranking["u5"][0]) == 5
    res = adapt_to_image(g, photo, lat, settings=AdaptSettings(steps=5))
    assert res.generator.delta_names == ["layer8", "layer10"] and res.psnr_end > res.psnr_start
    mask = torch.zeros(64, 64)
    mask[20:40, 20:40] = 1
    out = paint(res.generator, table, lat, [Stroke("u5", mask, "draw", "low")])
    base = render(res.generator, lat)
    assert not torch.allclose(out, base)

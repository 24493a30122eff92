"""StyleMapGAN editing ops: encode, w / w+ blend, strengths as a batch, transplantation, bad inputs."""
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from helpers import fixture_path
from gan_local_edit.core import IncompatibleInputError, load_generator, render
from gan_local_edit.core.latents import Latents
from gan_local_edit.core.ops.deformable_match import MatchResult, detect_roi, MatchSettings
from gan_local_edit.core.ops.stylemap_edit import (encode_images, manual_placement, pool_mask, prepare_mask,
                                                   stylemap_blend)


@pytest.fixture(scope="module")
def smg():
    return load_generator(fixture_path("stylemapgan_tiny32.pt"), device="cpu")


@pytest.fixture(scope="module")
def pair():
    e = load_file(fixture_path("stylemapgan_tiny32_expected.safetensors"))
    return Latents(stylemap=e["enc_stylemap"][0:1]), Latents(stylemap=e["enc_stylemap"][1:2]), e


def box(size=32, x0=8, x1=16, y0=8, y1=16):
    m = torch.zeros(size, size)
    m[y0:y1, x0:x1] = 1
    return m


def test_encode_is_one_pass_and_crops_like_invert(smg, pair):
    e = pair[2]
    lat, recon = encode_images(smg, e["img"])
    torch.testing.assert_close(lat.stylemap, e["enc_stylemap"], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(recon, e["recon_img"], atol=1e-4, rtol=1e-4)
    wide = F.pad(e["img"], (8, 8, 0, 0), value=-1.0)             # 48x32: the centre square is the image
    torch.testing.assert_close(encode_images(smg, wide)[0].stylemap, lat.stylemap, atol=1e-4, rtol=1e-4)
    big = encode_images(smg, F.interpolate(e["img"], scale_factor=2, mode="bilinear"))[0]
    assert big.stylemap.shape == lat.stylemap.shape


def test_strength_zero_is_the_source_and_strengths_are_one_batch(smg, pair):
    src, ref, e = pair
    out = stylemap_blend(smg, src, ref, box(), strengths=[0.0, 0.5, 1.0])
    assert out.images.shape == (3, 3, 32, 32) and out.latents.batch_size == 3
    assert torch.equal(out.latents.stylemap[0], src.stylemap[0])
    single = stylemap_blend(smg, src, ref, box(), strengths=[0.5])
    torch.testing.assert_close(out.images[1:2], single.images, atol=1e-5, rtol=1e-5)
    # the ends of a sweep are the source and the paper's w blend exactly (one decode of the blended stylemap)
    torch.testing.assert_close(out.images[:1], render(smg, src), atol=1e-5, rtol=1e-5)
    full = stylemap_blend(smg, src, ref, box(), strengths=[1.0])
    torch.testing.assert_close(out.images[2:], full.images, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(full.images, render(smg, Latents(stylemap=out.latents.stylemap[2:])), atol=1e-5,
                               rtol=1e-5)
    # strength 0.5 lies half way between source and edit in the stylemap
    torch.testing.assert_close(out.latents.stylemap[1], (out.latents.stylemap[0] + out.latents.stylemap[2]) / 2)


def test_w_blend_takes_whole_cells_touched_by_the_mask(smg, pair):
    src, ref, _ = pair
    m = box(x0=9, x1=10, y0=9, y1=10)       # one pixel in cell (2, 2) of the 8x8 grid (4 px cells)
    out = stylemap_blend(smg, src, ref, m)
    taken = (out.latents.stylemap[0] == ref.stylemap[0]).all(0)
    assert taken.sum() == 1 and taken[2, 2]
    assert out.grid_mask.shape == (1, 1, 8, 8) and out.grid_mask.sum() == 1


def test_w_plus_full_mask_gives_the_reference(smg, pair):
    src, ref, _ = pair
    out = stylemap_blend(smg, src, ref, torch.ones(32, 32), space="w+")
    torch.testing.assert_close(out.images, render(smg, ref), atol=1e-5, rtol=1e-5)
    local = stylemap_blend(smg, src, ref, box(), space="w+")
    w = stylemap_blend(smg, src, ref, box(), space="w")
    assert not torch.allclose(local.images, w.images)   # finer stylecodes use finer masks


def test_mask_of_another_size_is_resized_not_refused(smg, pair):
    src, ref, _ = pair
    a = stylemap_blend(smg, src, ref, box())
    b = stylemap_blend(smg, src, ref, F.interpolate(box()[None, None], size=(96, 96), mode="nearest")[0])
    assert torch.equal(a.latents.stylemap, b.latents.stylemap)


def test_empty_mask_is_refused_in_one_line(smg, pair):
    src, ref, _ = pair
    with pytest.raises(IncompatibleInputError, match="empty") as e:
        stylemap_blend(smg, src, ref, torch.zeros(32, 32))
    assert "\n" not in str(e.value)


def test_feathered_mask_is_soft_and_changes_the_edit(smg, pair):
    src, ref, _ = pair
    m = prepare_mask(box(), 32)
    soft = pool_mask(m, 8, feather=3.0)
    assert ((soft > 0) & (soft < 1)).any()
    assert soft.max() <= 1
    hard = stylemap_blend(smg, src, ref, box())
    feathered = stylemap_blend(smg, src, ref, box(), feather=3.0)
    assert not torch.equal(hard.latents.stylemap, feathered.latents.stylemap)


def test_unaligned_transplantation_moves_the_reference_cells(smg, pair):
    src, ref, _ = pair
    m = box(x0=8, x1=16, y0=8, y1=16)               # cells 2..3 of the grid
    place = manual_placement(prepare_mask(m, 32), offset=(0.25, 0.0))   # 8 px = 2 cells to the right
    out = stylemap_blend(smg, src, ref, m, placement=place)
    s = out.latents.stylemap[0]
    torch.testing.assert_close(s[:, 2:4, 4:6], ref.stylemap[0][:, 2:4, 2:4])
    assert torch.equal(s[:, :, :4], src.stylemap[0][:, :, :4])
    # the same placement given as a GLE_ROI (Deformable Match's type) does the same
    roi = MatchResult(centre=place.centre, scale=1.0, angle=0.0, score=1.0, ref_centre=place.ref_centre,
                      grid_size=32)
    same = stylemap_blend(smg, src, ref, m, placement=roi)
    assert torch.equal(same.latents.stylemap, out.latents.stylemap)


def test_placement_outside_the_image_is_refused(smg, pair):
    src, ref, _ = pair
    m = box()
    with pytest.raises(IncompatibleInputError, match="outside"):
        stylemap_blend(smg, src, ref, m, placement=manual_placement(prepare_mask(m, 32), offset=(2.0, 0.0)))


def test_deformable_match_runs_on_stylemaps(smg, pair):
    src, ref, _ = pair
    roi, tmask = detect_roi(smg, src, ref, box(), settings=MatchSettings(steps=2))
    assert tmask.shape == (32, 32) and roi.scale > 0
    out = stylemap_blend(smg, src, ref, box(), placement=roi, space="w+", strengths=[1.0, 0.5])
    assert out.images.shape == (2, 3, 32, 32)


def test_batches_broadcast(smg, pair):
    src, ref, _ = pair
    two = Latents.concat([src, ref])
    out = stylemap_blend(smg, two, ref, box(), strengths=[1.0, 0.25])
    assert out.images.shape == (4, 3, 32, 32)
    with pytest.raises(IncompatibleInputError, match="batch sizes"):
        stylemap_blend(smg, Latents.concat([src, ref, src]), two, box())


@pytest.mark.parametrize("feather", [0.0, 2.0])
def test_w_plus_sweep_equals_one_strength_at_a_time(smg, pair, feather):
    src, ref, _ = pair
    place = manual_placement(prepare_mask(box(), 32), offset=(0.1, -0.05), scale=1.2)
    sweep = stylemap_blend(smg, src, ref, box(), space="w+", strengths=[0.0, 0.3, 1.0], feather=feather,
                           placement=place)
    for k, a in enumerate([0.0, 0.3, 1.0]):
        one = stylemap_blend(smg, src, ref, box(), space="w+", strengths=[a], feather=feather, placement=place)
        torch.testing.assert_close(sweep.images[k:k + 1], one.images, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sweep.images[:1], render(smg, src), atol=1e-5, rtol=1e-5)

"""StyleMapGAN nodes: thin adapters around encode / blend, with one-line refusals."""
import shutil

import pytest
import torch

from helpers import fixture_path
from gan_local_edit import NODE_CLASS_MAPPINGS as NODES
from gan_local_edit.core import GLEError, load_generator
from gan_local_edit.core.ops.deformable_match import MatchResult


@pytest.fixture(scope="module")
def smg():
    return load_generator(fixture_path("stylemapgan_tiny32.pt"), device="cpu")


def photos(n=2, h=40, w=48):
    return torch.rand(n, h, w, 3, generator=torch.Generator().manual_seed(0))


def mouth_mask(size=64):
    m = torch.zeros(1, size, size)
    m[:, size // 2:size * 3 // 4, size // 4:size * 3 // 4] = 1
    return m


def test_loader_lists_stylemapgan_files_and_the_embedded_model(tmp_path, monkeypatch):
    monkeypatch.setenv("GLE_GAN_MODELS", str(tmp_path))
    shutil.copy(fixture_path("stylemapgan_tiny32.pt"), tmp_path / "smg.pt")
    choices = NODES["GLELoadGenerator"].INPUT_TYPES()["required"]["model"][0]
    assert "smg.pt" in choices and "embedded: faces64_stylemap" in choices
    g, info = NODES["GLELoadGenerator"]().load("smg.pt", "cpu")
    assert "stylemapgan" in info and g.has_encoder


def test_encode_then_blend(smg):
    lat, recon = NODES["GLEEncodeImage"]().encode(smg, photos())
    assert lat.batch_size == 2 and recon.shape == (2, 32, 32, 3)
    src, ref = lat.select(0), lat.select(1)
    images, out_lat, grid = NODES["GLEStylemapBlend"]().blend(smg, src, ref, mouth_mask(), "w+", "0, 0.5, 1", 1.0,
                                                              0.0, 0.0, 1.0)
    assert images.shape == (3, 32, 32, 3) and out_lat.batch_size == 3 and grid.shape == (1, 32, 32)
    assert 0 <= float(images.min()) and float(images.max()) <= 1


def test_offsets_and_roi_move_the_region(smg):
    lat, _ = NODES["GLEEncodeImage"]().encode(smg, photos())
    src, ref = lat.select(0), lat.select(1)
    node = NODES["GLEStylemapBlend"]()
    _, still, g0 = node.blend(smg, src, ref, mouth_mask(), "w", "1", 0.0, 0.0, 0.0, 1.0)
    _, moved, g1 = node.blend(smg, src, ref, mouth_mask(), "w", "1", 0.0, 0.0, -0.25, 1.0)
    assert not torch.equal(still.stylemap, moved.stylemap) and not torch.equal(g0, g1)
    assert torch.equal(g1[0, :16], g0[0, 8:24])               # the grid mask moved up a quarter (8 px)
    roi = MatchResult(centre=(16.0, 12.0), scale=1.0, angle=0.0, score=1.0, ref_centre=(16.0, 20.0), grid_size=32)
    _, by_roi, g2 = node.blend(smg, src, ref, mouth_mask(), "w", "1", 0.0, 0.0, 0.0, 1.0, roi=roi)
    assert torch.equal(g2, g1)


def test_bad_inputs_fail_in_one_line(smg, tiny_generator):
    lat, _ = NODES["GLEEncodeImage"]().encode(smg, photos())
    ws = NODES["GLESampleLatents"]().sample(tiny_generator, 0, 1, 0.7)[0]
    cases = [
        lambda: NODES["GLEStylemapBlend"]().blend(smg, lat, lat, torch.zeros(1, 64, 64), "w", "1", 0.0, 0, 0, 1),
        lambda: NODES["GLEGenerateImage"]().generate(tiny_generator, lat, "const", 0),
        lambda: NODES["GLEStylemapBlend"]().blend(smg, ws, ws, mouth_mask(), "w", "1", 0.0, 0, 0, 1),
        lambda: NODES["GLEEncodeImage"]().encode(tiny_generator, photos()),
        lambda: NODES["GLEStylemapBlend"]().blend(smg, lat, lat, mouth_mask(), "w", "a, b", 0.0, 0, 0, 1),
    ]
    for case in cases:
        with pytest.raises((GLEError, ValueError)) as e:
            case()
        assert "\n" not in str(e.value)

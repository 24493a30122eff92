"""GANPaint nodes as ComfyUI runs them (under inference_mode, ComfyUI tensors in and out)."""
import pytest
import torch

from gan_local_edit.core.generators.adapted import AdaptedGenerator
from gan_local_edit.core.ops.catalog import build_catalog
from gan_local_edit.core.ops.generate import render, sample_latents
from gan_local_edit.nodes.paint_nodes import AdaptToImage, DissectUnits, LoadUnits, PaintUnits, SaveUnits


@pytest.fixture(scope="module")
def setup(tiny_generator):
    g = tiny_generator
    catalog = build_catalog(g, n_samples=12, k=3, seed=1, batch=6).with_labels({"part": (1,), "rest": (0, 2)})
    with torch.inference_mode():
        units, info = DissectUnits().dissect(g, "b8.conv1", 8, 0, 0.7, catalog=catalog, labels="part, rest")
    return g, catalog, units, info


def _comfy(img):
    return ((img.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1)


def test_dissect_node_with_catalog_or_masks(setup):
    g, catalog, units, info = setup
    assert units.concepts == ["part", "rest"] and "part:" in info
    lat = sample_latents(g, 3, 4)
    mask = torch.zeros(4, 16, 16)
    mask[:, 4:9, 4:9] = 1
    with torch.inference_mode():
        own, _ = DissectUnits().dissect(g, "", 8, 0, 0.7, labels="square", latents=lat, mask=mask)
    assert own.concepts == ["square"] and own.layer == "b4.conv1" and own.meta["n_samples"] == 4
    with pytest.raises(ValueError, match="either a catalog"):
        DissectUnits().dissect(g, "", 8, 0, 0.7)


def test_paint_node_crops_a_photo_sized_mask_and_takes_two_strokes(setup):
    g, _, units, _ = setup
    lat = sample_latents(g, 5, 1)
    mask = torch.zeros(1, 16, 24)                        # a photo's mask: centre-cropped to 16x16
    mask[:, 2:8, 6:14] = 1
    with torch.inference_mode():
        (img,) = PaintUnits().paint(g, units, lat, mask, "part", "remove", "high", mask_2=mask,
                                    concept_2="rest", mode_2="draw", strength_2="low")
        (one,) = PaintUnits().paint(g, units, lat, mask, "part", "remove", "high")
    assert img.shape == (1, 16, 16, 3) and not torch.allclose(img, one)
    with pytest.raises(ValueError, match="empty"):
        PaintUnits().paint(g, units, lat, torch.zeros(1, 16, 24), "part", "remove", "high")
    outside = torch.zeros(1, 16, 24)
    outside[:, :, :3] = 1                                # only in the part the crop removes
    with pytest.raises(ValueError, match="empty"):
        PaintUnits().paint(g, units, lat, outside, "part", "remove", "high")


def test_adapt_node_returns_a_generator_for_the_photo(setup):
    g, _, units, _ = setup
    photo = render(g, sample_latents(g, 21, 1))
    lat = sample_latents(g, 22, 1)
    with torch.inference_mode():
        adapted, recon, report = AdaptToImage().adapt(g, _comfy(photo), lat, 20, 0.1, 0.1, units=units)
        mask = torch.zeros(1, 16, 16)
        mask[:, :5] = 1
        (painted,) = PaintUnits().paint(adapted, units, lat, mask, "part", "remove", "low")
        again, _, _ = AdaptToImage().adapt(adapted, _comfy(photo), lat, 2, 0.1, 0.1, mask=mask)
    assert isinstance(adapted, AdaptedGenerator) and adapted.delta_names == ["b16.conv0", "b16.conv1"]
    assert recon.shape == (1, 16, 16, 3) and "PSNR of the unedited region" in report
    assert painted.shape == (1, 16, 16, 3) and again.base is g


def test_units_save_and_load_nodes(setup, tmp_path, monkeypatch):
    g, _, units, _ = setup
    monkeypatch.setenv("GLE_GAN_UNITS", str(tmp_path))
    out = SaveUnits().save(units, "faces", False)
    assert out["result"][0].endswith("faces.safetensors")
    with pytest.raises(FileExistsError):
        SaveUnits().save(units, "faces", False)
    back, info = LoadUnits().load("faces.safetensors", g)
    assert back.concepts == units.concepts and "part:" in info

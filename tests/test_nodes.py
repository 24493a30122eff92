"""The ComfyUI nodes: contracts, validation, seeding, no mutation of inputs."""
import copy
import os
import shutil

import pytest
import torch

from helpers import fixture_path
import gan_local_edit as pack
from gan_local_edit.core import IncompatibleInputError, Latents

NODES = pack.NODE_CLASS_MAPPINGS


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    shutil.copy(fixture_path("nvidia_ada_tiny32_skip.pkl"), tmp_path / "skip.pkl")
    shutil.copy(fixture_path("rosinality_tiny32.pt"), tmp_path / "ros.pt")
    monkeypatch.setenv("GLE_GAN_MODELS", str(tmp_path))
    return tmp_path


def test_every_node_declares_the_comfy_contract():
    for key, cls in NODES.items():
        assert key.startswith("GLE") and key in pack.NODE_DISPLAY_NAME_MAPPINGS
        spec = cls.INPUT_TYPES()
        assert set(spec) <= {"required", "optional", "hidden"}
        assert callable(getattr(cls, cls.FUNCTION))
        assert cls.CATEGORY.startswith("GAN Local Edit") and cls.DESCRIPTION
        for section in ("required", "optional"):
            for name, s in (spec.get(section) or {}).items():
                assert len(s) == 2 and s[1].get("tooltip"), f"{key}.{name} lacks a tooltip"
        for t in cls.RETURN_TYPES:
            assert t in {"IMAGE", "MASK", "STRING", "INT", "FLOAT"} or t.startswith("GLE_")
        assert len(getattr(cls, "OUTPUT_TOOLTIPS", ())) == len(cls.RETURN_TYPES)


def test_load_lists_files_and_loads(models_dir):
    choices = NODES["GLELoadGenerator"].INPUT_TYPES()["required"]["model"][0]
    assert "skip.pkl" in choices and "ros.pt" in choices
    g, info = NODES["GLELoadGenerator"]().load("skip.pkl", "cpu")
    assert g.num_ws == 8 and "32x32" in info
    with pytest.raises(FileNotFoundError):
        NODES["GLELoadGenerator"]().load("missing.pkl", "cpu")


def test_sample_and_generate_are_seeded_and_pure(models_dir):
    g, _ = NODES["GLELoadGenerator"]().load("skip.pkl", "cpu")
    before = {k: v.clone() for k, v in g.state_dict().items()}
    sample = NODES["GLESampleLatents"]()
    (a,) = sample.sample(g, seed=5, count=3, truncation_psi=0.7)
    (b,) = sample.sample(g, seed=5, count=3, truncation_psi=0.7)
    (c,) = sample.sample(g, seed=6, count=3, truncation_psi=0.7)
    assert torch.equal(a.ws, b.ws) and not torch.equal(a.ws, c.ws)
    ws_copy = a.ws.clone()
    (img,) = NODES["GLEGenerateImage"]().generate(g, a, "const", 0)
    assert img.shape == (3, 32, 32, 3) and 0 <= img.min() and img.max() <= 1
    assert torch.equal(a.ws, ws_copy)
    assert all(torch.equal(before[k], v) for k, v in g.state_dict().items())
    (r1,) = NODES["GLEGenerateImage"]().generate(g, a, "random", 1)
    (r2,) = NODES["GLEGenerateImage"]().generate(g, a, "random", 1)
    assert torch.equal(r1, r2) and not torch.equal(r1, img)


def test_generate_refuses_latents_of_another_model(models_dir):
    g32, _ = NODES["GLELoadGenerator"]().load("skip.pkl", "cpu")
    other = Latents(ws=torch.zeros(1, 6, 64))
    with pytest.raises(IncompatibleInputError, match="another model"):
        NODES["GLEGenerateImage"]().generate(g32, other, "const", 0)


def test_sample_validates_count(models_dir):
    g, _ = NODES["GLELoadGenerator"]().load("skip.pkl", "cpu")
    with pytest.raises(ValueError, match="count"):
        NODES["GLESampleLatents"]().sample(g, 0, 0, 0.7)


def test_styles_latents_render_like_ws(models_dir):
    g, _ = NODES["GLELoadGenerator"]().load("skip.pkl", "cpu")
    (lat,) = NODES["GLESampleLatents"]().sample(g, 1, 2, 1.0)
    s_lat = Latents(styles=tuple(s.clone() for s in g.styles(lat.ws)), space="s")
    (a,) = NODES["GLEGenerateImage"]().generate(g, lat, "const", 0)
    (b,) = NODES["GLEGenerateImage"]().generate(g, s_lat, "const", 0)
    torch.testing.assert_close(a, b)


def test_convert_node_writes_next_to_source(models_dir):
    node = NODES["GLEConvertCheckpoint"]()
    out = node.convert("ros.pt", "", "float32", False)
    path = out["result"][0]
    assert path == os.path.join(str(models_dir), "ros.safetensors") and os.path.exists(path)
    with pytest.raises(FileExistsError):
        node.convert("ros.pt", "", "float32", False)
    node.convert("ros.pt", "ros", "float16", True)
    with pytest.raises(ValueError, match="plain file name"):
        node.convert("ros.pt", "../evil", "float32", True)
    assert "ros.safetensors" in NODES["GLELoadGenerator"].INPUT_TYPES()["required"]["model"][0]


def test_latents_are_immutable_values():
    lat = Latents(ws=torch.zeros(3, 4, 2))
    sub = lat.select([0, 2])
    assert sub.batch_size == 2 and lat.batch_size == 3
    with pytest.raises(Exception):
        lat.ws = None
    assert copy.copy(lat).ws is lat.ws


def test_loaders_report_changed_files(models_dir):
    before = NODES["GLELoadGenerator"].IS_CHANGED("skip.pkl", "cpu")
    os.utime(models_dir / "skip.pkl", ns=(10**9, 10**9))
    assert NODES["GLELoadGenerator"].IS_CHANGED("skip.pkl", "cpu") != before
    assert NODES["GLELoadGenerator"].IS_CHANGED("gone.pkl", "cpu") == "missing"


def test_images_with_nan_are_refused_in_one_line():
    from gan_local_edit.nodes.comfy_bridge import image_from_comfy
    img = torch.rand(1, 8, 8, 3)
    assert image_from_comfy(img).shape == (1, 3, 8, 8)
    img[0, 1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match=r"^IMAGE has 1 NaN or infinite values out of 192: fix the node that made it$"):
        image_from_comfy(img)


def test_error_types_read_as_the_pack_in_comfyui():
    from gan_local_edit.core.errors import CheckpointError, GLEError, IncompatibleInputError
    for cls in (GLEError, CheckpointError, IncompatibleInputError):
        assert f"{cls.__module__}.{cls.__name__}" == f"gan_local_edit.{cls.__name__}"


def test_reference_masks_square_resized_non_square_refused():
    from gan_local_edit.nodes.paste_nodes import single_mask
    m = torch.zeros(1, 40, 40)
    m[0, 10:30, 10:30] = 1
    assert single_mask(m, 64).shape == (64, 64)
    with pytest.raises(ValueError, match=r"is 40x64 \(width x height\).*square \(64x64\)"):
        single_mask(torch.ones(1, 64, 40), 64)

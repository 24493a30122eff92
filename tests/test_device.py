"""Device consistency: every operation runs with the generator and its tensors on a GPU.

Without a GPU, ``fake_cuda`` stands in for one: any CPU tensor (of one or more dimensions) that an
operation creates and combines with the generator's tensors fails here exactly as it would on CUDA.
Inputs are what users hand over: latents, catalogs, masks and images live on the CPU.

Every operation is one row of ``OPS`` (name -> runner). A new operation (another generator family,
another editing method) adds one row; ``pytest -v tests/test_device.py`` lists the rows covered.
"""
import copy

import pytest
import torch
import torch.nn.functional as F

from fake_cuda import fake_cuda, to_fake_cuda
from helpers import fixture_path
from gan_local_edit.core import load_generator
from gan_local_edit.core.latents import Latents
from gan_local_edit.core.metrics import in_out_mse, lab_squared_error
from gan_local_edit.core.ops.catalog import build_catalog, catalog_mask, cluster_maps
from gan_local_edit.core.ops.catalog_preview import overlay_clusters
from gan_local_edit.core.ops.adapt import AdaptSettings, adapt_to_image
from gan_local_edit.core.ops.dissect import dissect, dissect_with_catalog
from gan_local_edit.core.ops.paint import Stroke, paint
from gan_local_edit.core.ops.deformable_match import MatchResult, MatchSettings, detect_roi
from gan_local_edit.core.ops.directions import (LearnSettings, apply_directions, learn_for_part, pca_directions,
                                                sefa_directions, traverse)
from gan_local_edit.core.ops.generate import render, sample_latents
from gan_local_edit.core.ops.invert import InvertSettings, invert
from gan_local_edit.core.ops.latent_paste import PasteSettings, paste
from gan_local_edit.core.ops.match_eval import disc_mask
from gan_local_edit.core.ops.perceptual import VGG16Features
from gan_local_edit.core.ops.pivotal_tuning import TuneSettings, pivotal_tune
from gan_local_edit.core.ops.style_transfer import TransferSettings, local_transfer
from gan_local_edit.core.ops.stylemap_edit import encode_images, manual_placement, prepare_mask, stylemap_blend


@pytest.fixture(scope="module")
def inputs(tiny_generator):
    """CPU-side inputs made once with the CPU generator."""
    g = tiny_generator
    target, reference = sample_latents(g, 1, 1, 0.7), sample_latents(g, 2, 1, 0.7)
    image = render(g, target)
    photo = invert(g, image, InvertSettings(steps=3, starts=1)).latents      # carries fitted noise maps
    catalog = build_catalog(g, n_samples=12, k=3, seed=1, batch=6).with_labels({"part": (1,)})
    mask = disc_mask(16, 8, 9, 3)
    pair = Latents.concat([target, reference])
    units = dissect(g, "b8.conv1", {"part": mask.expand(2, -1, -1)}, pair)
    return {"target": target, "reference": reference, "image": image, "photo": photo, "catalog": catalog,
            "mask": mask, "pair": pair, "units": units}


def _roi():
    return MatchResult(centre=(8, 8), scale=1.0, angle=0.0, score=1, ref_centre=(8, 9), grid_size=16)


def run_generate(g, x):
    render(g, x["target"])
    render(g, x["photo"])                                                   # with its own noise maps
    render(g, x["target"], noise_mode="random", noise_seed=3)


def run_sample(g, x):
    sample_latents(g, 5, 3, 0.7)


def run_catalog_build(g, x):
    build_catalog(g, n_samples=8, k=2, seed=0, batch=4)


def run_catalog_mask(g, x):
    g.fingerprint()
    g._fingerprint = "another-copy"               # forces the tolerant identity check on the device
    catalog_mask(g, x["catalog"], x["target"], "part", soft=True)
    catalog_mask(g, x["catalog"], x["photo"], "part")


def run_catalog_preview(g, x):
    overlay_clusters(render(g, x["target"]), cluster_maps(g, x["catalog"], x["target"]), 0.5, scale=2)


def run_catalog_transfer(g, x):
    for mode in ("sequential", "simultaneous"):
        render(g, local_transfer(g, x["catalog"], x["photo"], x["reference"], "part", [TransferSettings(mode)]))


def run_locality(g, x):
    a, b = render(g, x["target"]).to(g.device), render(g, x["reference"]).to(g.device)
    in_out_mse(lab_squared_error(a, b), x["mask"][None].to(g.device))


def run_deformable_match(g, x):
    detect_roi(g, x["target"], x["reference"], x["mask"], settings=MatchSettings(steps=4))


def run_deformable_match_photo(g, x):
    detect_roi(g, x["photo"], x["reference"], x["mask"], settings=MatchSettings(steps=4))


def run_latent_paste(g, x):
    paste(g, x["target"], x["reference"], x["mask"], _roi(), PasteSettings(steps=2, preview_every=1))


def run_latent_paste_photo(g, x):
    paste(g, x["photo"], x["reference"], x["mask"], _roi(), PasteSettings(steps=2, feature_layer="b8"))


def run_paste_workflow_nodes(g, x):
    """The shipped paste workflow's two nodes, with a ComfyUI MASK [1, H, W] on the CPU."""
    from gan_local_edit import NODE_CLASS_MAPPINGS as nodes
    mask = x["mask"][None]
    _, roi, _ = nodes["GLEDeformableMatch"]().match(g, x["target"], x["reference"], mask, "", 4)
    nodes["GLELatentPaste"]().paste(g, x["target"], x["reference"], mask, roi, 2, 0.05, 0.1, 6, 1, "")


def run_invert(g, x):
    invert(g, x["image"], InvertSettings(steps=2, starts=2))
    invert(g, x["image"], InvertSettings(space="w", steps=2, starts=1, optimize_noise=False))


def run_invert_lm_polish(g, x):
    invert(g, x["image"], InvertSettings(space="w", steps=1, starts=1, refine_steps=1))


def run_invert_vgg_loss(g, x):
    torch.manual_seed(0)
    net = to_fake_cuda(VGG16Features().eval().requires_grad_(False))
    invert(g, x["image"], InvertSettings(steps=1, starts=1), feature_net=net)


def run_pivotal_tuning(g, x):
    tuned, _, _ = pivotal_tune(g, x["image"], x["photo"], TuneSettings(steps=2))
    render(tuned, x["photo"])


def run_directions_learn(g, x):
    learn_for_part(g, LearnSettings(space="s", batches=2), catalog=x["catalog"], label="part")
    learn_for_part(g, LearnSettings(space="w+", k=2, batches=2), mask=x["mask"])


def run_directions_traverse_apply(g, x):
    d = learn_for_part(g, LearnSettings(space="w", batches=1), mask=x["mask"])
    s = learn_for_part(g, LearnSettings(space="s", batches=1), mask=x["mask"])
    traverse(g, x["photo"], d, 0, [-1, 0, 1])
    traverse(g, x["target"], s, 0, [-1, 1])
    render(g, apply_directions(g, x["target"], [(d, 0, 1.0), (s, 0, -1.0)]))


def run_directions_global(g, x):
    traverse(g, x["target"], sefa_directions(g, k=2), 1, [2.0])
    pca_directions(g, k=2, samples=50)


_SMG = []


def run_stylemap_edit(g, x):
    """StyleMapGAN ops on their own generator (the fixture), moved to the device like ``g``."""
    if not _SMG:
        _SMG.append(load_generator(fixture_path("stylemapgan_tiny32.pt"), device="cpu"))
    smg = to_fake_cuda(copy.deepcopy(_SMG[0]))
    photos = torch.rand(2, 3, 48, 48) * 2 - 1                              # CPU images of another size
    lat, _ = encode_images(smg, photos)
    src, ref = lat.select(0), lat.select(1)
    mask = torch.zeros(1, 40, 40)
    mask[:, 10:20, 10:24] = 1
    render(smg, sample_latents(smg, 1, 2, 0.7))
    for space in ("w", "w+"):
        stylemap_blend(smg, src, ref, mask, space=space, strengths=[0.0, 0.5, 1.0], feather=2.0)
    stylemap_blend(smg, src, ref, mask, placement=manual_placement(prepare_mask(mask, 32), (0.1, 0.05), 1.2))
    roi, _ = detect_roi(smg, src, ref, mask[0], settings=MatchSettings(steps=2))
    stylemap_blend(smg, src, ref, mask, space="w+", placement=roi)
def _units(x):
    return x["units"]


def run_dissect(g, x):
    dissect(g, "b8.conv1", {"part": x["mask"].expand(2, -1, -1)}, x["pair"], batch=1)
    dissect_with_catalog(g, x["catalog"], ["part"], "b8.conv1", n_samples=4, seed=0, batch=2)


def run_paint(g, x):
    strokes = [Stroke("part", x["mask"], "draw", 3), Stroke("part", x["mask"][None], "remove", "low"),
               Stroke("part", x["mask"], "copy", 2)]
    paint(g, _units(x), x["photo"], strokes, reference=x["reference"])


def run_adapt_then_paint(g, x):
    res = adapt_to_image(g, x["image"], x["photo"], x["mask"], AdaptSettings(steps=2, after="b8.conv1"))
    paint(res.generator, _units(x), x["photo"], [Stroke("part", x["mask"], "remove", 2)])
    adapt_to_image(res.generator, x["image"], x["photo"], settings=AdaptSettings(steps=1))


OPS = {
    "generate": run_generate,
    "sample": run_sample,
    "catalog_build": run_catalog_build,
    "catalog_mask": run_catalog_mask,
    "catalog_preview": run_catalog_preview,
    "catalog_transfer": run_catalog_transfer,
    "locality": run_locality,
    "deformable_match": run_deformable_match,
    "deformable_match_photo": run_deformable_match_photo,
    "latent_paste": run_latent_paste,
    "latent_paste_photo": run_latent_paste_photo,
    "paste_workflow_nodes": run_paste_workflow_nodes,
    "invert": run_invert,
    "invert_lm_polish": run_invert_lm_polish,
    "invert_vgg_loss": run_invert_vgg_loss,
    "pivotal_tuning": run_pivotal_tuning,
    "directions_learn": run_directions_learn,
    "directions_traverse_apply": run_directions_traverse_apply,
    "directions_global": run_directions_global,
    "stylemap_edit": run_stylemap_edit,
    "ganpaint_dissect": run_dissect,
    "ganpaint_paint": run_paint,
    "ganpaint_adapt_then_paint": run_adapt_then_paint,
}


@pytest.mark.parametrize("op", list(OPS), ids=list(OPS))
def test_op_runs_with_the_generator_on_a_gpu(op, tiny_generator, inputs):
    with fake_cuda() as dev:
        g = to_fake_cuda(copy.deepcopy(tiny_generator))
        assert g.device == dev
        OPS[op](g, inputs)


def test_the_fake_gpu_catches_a_cpu_tensor_inside_an_op(tiny_generator, inputs):
    """The table is only worth something if a stray CPU tensor in an op does fail."""
    def careless(g, x):
        feats = g.synthesis(x["target"].ws_for(g), taps=["b8"], return_image=False)[1]["b8"]
        return F.interpolate(feats, size=(16, 16)) * x["mask"]              # the mask was left on the CPU

    with fake_cuda():
        g = to_fake_cuda(copy.deepcopy(tiny_generator))
        with pytest.raises(RuntimeError, match="same device"):
            careless(g, inputs)

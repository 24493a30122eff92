"""Quality of StyleMapGAN support: fixture parity, and the embedded faces64_stylemap model.

1. parity with the official implementation (tests/fixtures/stylemapgan_tiny32*): max abs error of
   stylemap, image, encoder stylemap, reconstruction and the w-space local edit;
2. a picture (docs/stylemap_samples.png): samples; faces64 teacher images and their one-pass
   reconstructions; teacher-DCGAN faces and theirs; then for each part (eyes, nose, mouth):
   source, reference, their reconstructions, w, w+, feathered w and w+ edits;
3. reconstruction PSNR / SSIM (encode -> decode) of 200 held-out faces64 samples (fresh z from a
   seed the training never used, psi 1) and 50 teacher-DCGAN faces (out of model);
4. the paper's local-editing metrics on aligned pairs of faces64 samples (psi 0.7): masks = the
   reference's eyes / nose / mouth from the shipped catalog (faces64_k64, catalog_mask);
   MSE_src = mean squared error outside the mask vs the source, MSE_ref = inside vs the reference
   (images in [-1, 1], RGB, as the reference metrics/local_editing.py), each against the
   reconstructions (the issue's definition) and against the original images (the paper's).

    python3 scripts/eval_stylemap.py --threads 2
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import ROOT, add_common_args, apply_common_args, load_pack  # noqa: E402
from face_teacher import FaceTeacher  # noqa: E402

load_pack()
from gan_local_edit.core.embedded import load_embedded_catalog, load_embedded_generator  # noqa: E402
from gan_local_edit.core.formats.loader import convert_checkpoint, load_generator  # noqa: E402
from gan_local_edit.core.imaging import save_image_grid  # noqa: E402
from gan_local_edit.core.latents import Latents  # noqa: E402
from gan_local_edit.core.metrics import psnr, ssim  # noqa: E402
from gan_local_edit.core.ops.catalog import catalog_mask  # noqa: E402
from gan_local_edit.core.ops.generate import render, sample_latents  # noqa: E402
from gan_local_edit.core.ops.stylemap_edit import encode_images, stylemap_blend  # noqa: E402

FIXTURES = os.path.join(ROOT, "tests", "fixtures")
PARTS = ("eyes", "nose", "mouth")
VARIANTS = {"w": dict(space="w"), "w+": dict(space="w+"), "w feathered 2px": dict(space="w", feather=2.0),
            "w+ feathered 2px": dict(space="w+", feather=2.0)}
HELD_OUT_SEED, DCGAN_SEED, PAIR_SEED = 90_210, 4_242, 31_337


@torch.no_grad()
def parity():
    g = load_generator(os.path.join(FIXTURES, "stylemapgan_tiny32.pt"), device="cpu")
    e = load_file(os.path.join(FIXTURES, "stylemapgan_tiny32_expected.safetensors"))
    edit = stylemap_blend(g, Latents(stylemap=e["enc_stylemap"][:1]), Latents(stylemap=e["enc_stylemap"][1:2]),
                          (e["edit_mask"] > -1).float(), space="w")
    got = {"stylemap": g.mapping(e["z"]), "img": g.synthesis(e["stylemap"]), "enc_stylemap": g.encode(e["img"]),
           "recon_img": g.synthesis(e["enc_stylemap"]), "edit_stylemap": edit.latents.stylemap,
           "edit_img": edit.images}
    print("parity with the official StyleMapGAN (stylemapgan_tiny32), max abs error:")
    print("  " + ", ".join(f"{k} {(v - e[k]).abs().max().item():.2e}" for k, v in got.items()))
    with tempfile.TemporaryDirectory() as tmp:
        back = load_generator(convert_checkpoint(os.path.join(FIXTURES, "stylemapgan_tiny32.pt"),
                                                 os.path.join(tmp, "tiny32.safetensors")), device="cpu")
        same = {"weights": all(torch.equal(v, back.state_dict()[k]) for k, v in g.state_dict().items()),
                "stylemap": torch.equal(back.mapping(e["z"]), got["stylemap"]),
                "img": torch.equal(back.synthesis(e["stylemap"]), got["img"]),
                "enc_stylemap": torch.equal(back.encode(e["img"]), got["enc_stylemap"])}
    print("round trip through .safetensors (convert, reload), bit-identical: "
          + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in same.items()))


def bad_inputs():
    """The one-line messages users get for the issue's bad inputs (fixture model, embedded faces64)."""
    g = load_generator(os.path.join(FIXTURES, "stylemapgan_tiny32.pt"), device="cpu")
    sg2 = load_embedded_generator("faces64", "cpu")
    src, ref = sample_latents(g, seed=0, count=1), sample_latents(g, seed=1, count=1)
    box = torch.zeros(96, 96)
    box[40:64, 24:72] = 1
    with tempfile.TemporaryDirectory() as tmp:
        with torch.serialization.safe_globals([argparse.Namespace]):
            ck = torch.load(os.path.join(FIXTURES, "stylemapgan_tiny32.pt"), weights_only=True)
        ck.pop("e_ema")
        torch.save(ck, os.path.join(tmp, "no_encoder.pt"))
        no_encoder = load_generator(os.path.join(tmp, "no_encoder.pt"), device="cpu")
    cases = {
        "empty mask": lambda: stylemap_blend(g, src, ref, torch.zeros(32, 32)),
        "stylemap latent given to a StyleGAN2": lambda: render(sg2, src),
        "StyleGAN2 latents given to Stylemap Blend": lambda: stylemap_blend(g, *(sample_latents(sg2, 0, 1),) * 2,
                                                                            torch.ones(64, 64)),
        "checkpoint without its encoder (e_ema dropped), Encode Image":
            lambda: encode_images(no_encoder, torch.zeros(1, 3, 32, 32)),
    }
    print("bad inputs:")
    out = stylemap_blend(g, src, ref, box)
    print(f"  mask of another size (96x96 for a 32 px model): resized, not refused -> {tuple(out.images.shape)} "
          f"images, grid mask {int(out.grid_mask.sum())} of 64 cells")
    for what, case in cases.items():
        try:
            case()
            print(f"  {what}: NOT REFUSED")
        except Exception as e:   # noqa: BLE001 - the message itself is what is shown
            msg = str(e)
            print(f"  {what}: {type(e).__name__}: {msg}" + ("" if "\n" not in msg else "  [SEVERAL LINES]"))


def recon_quality(g, images):
    lat, recon = encode_images(g, images)
    return psnr(recon, images), ssim(recon, images, per_image=True), recon


def masked_mse(a, b, mask, inside: bool):
    m = (mask > 0.5).float()[:, None].expand_as(a)
    m = m if inside else 1 - m
    return float(((a - b).square() * m).sum() / m.sum())


@torch.no_grad()
def main(argv=None):
    p = add_common_args(argparse.ArgumentParser(description=__doc__))
    p.add_argument("--pairs", type=int, default=50)
    p.add_argument("--model", default=None, help="StyleMapGAN file to evaluate (default: embedded faces64_stylemap)")
    args = apply_common_args(p.parse_args(argv))
    parity()
    bad_inputs()
    g = load_generator(args.model, device="cpu") if args.model else load_embedded_generator("faces64_stylemap", "cpu")
    meta = getattr(g, "metadata", {})
    print(f"model: {g.describe()}; trained {meta.get('steps', '?')} steps, {meta.get('train_seconds', '?')} s")
    teacher, dcgan = load_embedded_generator("faces64", "cpu"), FaceTeacher()

    z = torch.randn(200, teacher.z_dim, generator=torch.Generator().manual_seed(HELD_OUT_SEED))
    held = torch.cat([teacher.synthesis(teacher.mapping(c)) for c in z.split(50)]).clamp(-1, 1)
    faces = dcgan(torch.randn(50, dcgan.z_dim, generator=torch.Generator().manual_seed(DCGAN_SEED)))
    rows = {}
    for name, imgs in (("200 held-out faces64 samples", held), ("50 teacher-DCGAN faces", faces)):
        p_, s_, rec = recon_quality(g, imgs)
        rows[name] = (imgs[:8], rec[:8])
        print(f"reconstruction (one encoder + one decoder pass) of {name}: PSNR {p_.mean():.2f} dB "
              f"(sd {p_.std():.2f}), SSIM {s_.mean():.4f} (sd {s_.std():.4f})")

    cat = load_embedded_catalog(teacher)
    n = args.pairs
    src_lat = sample_latents(teacher, PAIR_SEED, n, 0.7)
    ref_lat = sample_latents(teacher, PAIR_SEED + 1, n, 0.7)
    src_img = torch.cat([teacher.synthesis(src_lat.ws[i:i + 25]) for i in range(0, n, 25)]).clamp(-1, 1)
    ref_img = torch.cat([teacher.synthesis(ref_lat.ws[i:i + 25]) for i in range(0, n, 25)]).clamp(-1, 1)
    s_src, rec_src = encode_images(g, src_img)
    s_ref, rec_ref = encode_images(g, ref_img)
    print(f"local editing, {n} pairs of faces64 samples (psi 0.7), mask = the reference's catalog part; "
          f"MSE in [-1, 1] RGB: MSE_src outside the mask / MSE_ref inside "
          f"(vs reconstructions | vs original images); paper (CelebA-HQ 256, w): 0.039 / 0.105")
    strip = []
    for part in PARTS:
        masks = catalog_mask(teacher, cat, ref_lat, part)
        keep = [i for i in range(n) if masks[i].sum() > 0]
        out = {}
        for vname, kw in VARIANTS.items():
            res = stylemap_blend(g, s_src.select(keep), s_ref.select(keep), masks[keep], **kw)
            m = masks[keep]
            r = (masked_mse(res.images, rec_src[keep], m, False), masked_mse(res.images, rec_ref[keep], m, True),
                 masked_mse(res.images, src_img[keep], m, False), masked_mse(res.images, ref_img[keep], m, True))
            out[vname] = res.images
            print(f"  {part:5s} ({len(keep)} pairs, mask {float(m.mean()):.3f} of the image) {vname:17s}: "
                  f"{r[0]:.4f} / {r[1]:.4f} | {r[2]:.4f} / {r[3]:.4f}")
        i = keep[0]
        strip.append(torch.stack([src_img[i], ref_img[i], rec_src[i], rec_ref[i], out["w"][0], out["w+"][0],
                                  out["w feathered 2px"][0], out["w+ feathered 2px"][0]]))
    samples = g.synthesis(sample_latents(g, 0, 8, 0.7).stylemap)
    grid = torch.cat([samples, *rows["200 held-out faces64 samples"], *rows["50 teacher-DCGAN faces"], *strip])
    path = save_image_grid(F.interpolate(grid, scale_factor=2, mode="nearest"),
                           os.path.join(args.out, "stylemap_samples.png"), cols=8, pad=2)
    print(f"picture: {os.path.relpath(path, ROOT)} (row 1 samples psi 0.7; rows 2-3 faces64 held-out / "
          f"reconstruction; rows 4-5 DCGAN faces / reconstruction; rows 6-8 eyes, nose, mouth: source, "
          f"reference, their reconstructions, w, w+, w feathered, w+ feathered)")


if __name__ == "__main__":
    main()

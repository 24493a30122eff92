"""Speed of StyleMapGAN local editing on the CPU (one run prints every ratio).

* blend cost: encode a pair + blend + decode, vs encode a pair + decode (one encoder pass over
  the two images + one decoder pass): the blend itself should cost nothing (target <= 1.1x);
* strength sweep: 8 strengths of one pair in one batch vs one strength (target <= 3x). In w+ the
  mixing is linear in the strength, so the modulation convolutions run twice per pair whatever
  the number of strengths; in w each strength's stylemap goes through the whole decoder;
* how far the w-space strengths (stylecode interpolation) are from decoding the interpolated
  stylemap: PSNR between the two at strengths 0.25 / 0.5 / 0.75 on 16 sample pairs (truncation 0.7),
  beside the size of the edit itself;
* ms per edit at batch 1 and 8 (the embedded 64 px model), and at the official 256 px layout
  (channel_multiplier 2, 64x8x8 stylemap, 8 mapping layers) with random weights.

Timings are medians of interleaved repeats (the machine is shared), after one warm-up.

    python3 scripts/bench_stylemap.py --threads 2
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import add_common_args, apply_common_args, load_pack  # noqa: E402

load_pack()
from gan_local_edit.core.embedded import load_embedded_generator  # noqa: E402
from gan_local_edit.core.generators.stylemapgan import StyleMapGANConfig, StyleMapGANGenerator  # noqa: E402
from gan_local_edit.core.latents import Latents  # noqa: E402
from gan_local_edit.core.ops.stylemap_edit import stylemap_blend  # noqa: E402

OFFICIAL_256 = {8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128}


def official_256() -> StyleMapGANGenerator:
    cfg = StyleMapGANConfig(z_dim=64, style_dim=64, latent_size=8, resolution=256, channels=OFFICIAL_256,
                            stylecode_channels=OFFICIAL_256, mapping_layers=8, encoder_channels=OFFICIAL_256)
    torch.manual_seed(0)
    return StyleMapGANGenerator(cfg).eval().requires_grad_(False)


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def medians(fns: dict, repeats: int) -> dict:
    """Median seconds of each function, runs interleaved so drift of the shared machine hits all alike."""
    for fn in fns.values():
        fn()
    runs = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            runs[k].append(timed(fn))
    return {k: statistics.median(v) for k, v in runs.items()}


def pair_ops(g, images, mask, space="w"):
    """The functions compared: each starts from the images (projection included)."""
    def encode_decode():
        s = g.encode(images)
        g.synthesis(s[:1])

    def encode_blend_decode():
        s = g.encode(images)
        stylemap_blend(g, Latents(stylemap=s[:1]), Latents(stylemap=s[1:]), mask, space=space)

    def sweep8():
        s = g.encode(images)
        stylemap_blend(g, Latents(stylemap=s[:1]), Latents(stylemap=s[1:]), mask, space=space,
                       strengths=[i / 7 for i in range(8)])
    return encode_decode, encode_blend_decode, sweep8


def mouth_box(res):
    m = torch.zeros(res, res)
    m[res * 5 // 8:res * 7 // 8, res // 4:res * 3 // 4] = 1
    return m


@torch.no_grad()
def interpolation_gap(g, pairs: int = 16):
    """PSNR (images in [-1, 1]) between the w sweep's images and the decodes of the interpolated stylemaps."""
    s = g.mapping(torch.randn(2 * pairs, g.z_dim, generator=torch.Generator().manual_seed(1)), truncation_psi=0.7)
    src, ref = Latents(stylemap=s[:pairs]), Latents(stylemap=s[pairs:])
    alphas = [0.0, 0.25, 0.5, 0.75, 1.0]
    out = stylemap_blend(g, src, ref, mouth_box(g.resolution), strengths=alphas)
    imgs = out.images.reshape(pairs, len(alphas), *out.images.shape[1:])
    maps = out.latents.stylemap.reshape(pairs, len(alphas), *out.latents.stylemap.shape[1:])
    edit = (imgs[:, -1] - imgs[:, 0]).abs().mean()
    parts = []
    for k in (1, 2, 3):
        direct = g.synthesis(maps[:, k]).float()
        mse = (direct - imgs[:, k]).square().mean()
        parts.append(f"{alphas[k]:g}: {10 * torch.log10(4 / mse):.1f} dB (mean |diff| {(direct - imgs[:, k]).abs().mean():.4f})")
    print(f"w strengths as stylecode interpolation vs decoding the interpolated stylemap, {pairs} pairs, mouth box: "
          + "; ".join(parts) + f"; the edit itself (strength 1 vs 0): mean |diff| {edit:.4f}")


@torch.no_grad()
def main(argv=None):
    p = add_common_args(argparse.ArgumentParser(description=__doc__), out=False)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--repeats-256", type=int, default=3)
    p.add_argument("--no-256", action="store_true", help="skip the 256 px layout")
    args = apply_common_args(p.parse_args(argv))
    g = load_embedded_generator("faces64_stylemap", device="cpu")
    print(f"model: embedded faces64_stylemap ({g.describe()}); threads {torch.get_num_threads()}")
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    mask = mouth_box(64)
    interpolation_gap(g)
    for space in ("w", "w+"):
        ed, ebd, sw = pair_ops(g, images, mask, space)
        t = medians({"ed": ed, "ebd": ebd, "sweep": sw}, args.repeats)
        print(f"[{space}] encode pair + decode {1000 * t['ed']:.2f} ms; encode pair + blend + decode "
              f"{1000 * t['ebd']:.2f} ms = {t['ebd'] / t['ed']:.3f}x (target <= 1.1); 8-strength sweep "
              f"{1000 * t['sweep']:.2f} ms = {t['sweep'] / t['ebd']:.2f}x one pair (target <= 3)")
    for batch in (1, 8):
        src = Latents(stylemap=g.encode(torch.rand(batch, 3, 64, 64) * 2 - 1))
        ref = Latents(stylemap=g.encode(torch.rand(batch, 3, 64, 64) * 2 - 1))
        t = medians({"blend": lambda: stylemap_blend(g, src, ref, mask)}, args.repeats)
        print(f"64 px, batch {batch}: {1000 * t['blend'] / batch:.2f} ms per edit (blend + decode, w)")
    if args.no_256:
        return
    big = official_256()
    print(f"official 256 px layout, random weights: {big.describe()}")
    images = torch.rand(2, 3, 256, 256, generator=torch.Generator().manual_seed(0)) * 2 - 1
    ed, ebd, _ = pair_ops(big, images, mouth_box(256))
    t = medians({"ed": ed, "ebd": ebd}, args.repeats_256)
    src = Latents(stylemap=big.encode(images[:1]))
    ref = Latents(stylemap=big.encode(images[1:]))
    one = medians({"b": lambda: stylemap_blend(big, src, ref, mouth_box(256))}, args.repeats_256)["b"]
    print(f"256 px: encode pair + decode {1000 * t['ed']:.0f} ms; "
          f"encode pair + blend + decode {1000 * t['ebd']:.0f} ms "
          f"= {t['ebd'] / t['ed']:.3f}x; one edit from stylemaps (blend + decode, batch 1) {1000 * one:.0f} ms")


if __name__ == "__main__":
    main()

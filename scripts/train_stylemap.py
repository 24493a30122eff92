"""Train the embedded 64x64 face StyleMapGAN (``models/embedded/faces64_stylemap.safetensors``).

No StyleMapGAN weights or face data set can be downloaded here, so the teachers are the
pack's shipped ``faces64`` StyleGAN2 (unlimited (z, image) pairs) and the real face DCGAN
of ``face_teacher.py`` (extra, out-of-model faces for the encoder). The student is the pack's
own ``StyleMapGANGenerator`` (8x8 stylemap, the paper's best layout for local editing) with
its encoder, so the shipped file exercises exactly the code users run.

Stage 1 (joint distillation, every step):
  * encoder + decoder as an autoencoder on teacher faces: x -> E(x) -> G(E(x)) ~ x
    (L1 at three scales + SSIM, ``train_embedded.distill_loss``) - the paper's image
    reconstruction loss;
  * per-sample generator distillation: G(mapping(z)) ~ faces64(z) for the same z, plus
    mapping(z) ~ E(faces64(z)) so sampled and projected stylemaps share one space;
  * stylemap reconstruction of generated samples: E(G(mapping(z))) ~ mapping(z) (the paper's
    latent reconstruction loss).
Stage 2 (``--adv-fraction`` of the time budget): the same losses plus a non-saturating GAN
loss on generated and reconstructed images (small resnet critic with lazy R1), which
sharpens what L1 regression blurs.

Time-budgeted (``--minutes``), checkpointed every ``--ckpt-every`` steps and resumable; the EMA
weights are exported with the recipe and the final losses in the file's metadata.

    python scripts/train_stylemap.py --workdir runs/stylemap --minutes 60 \
        --out models/embedded/faces64_stylemap.safetensors
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import load_pack  # noqa: E402
from face_teacher import FaceTeacher, PACKAGE as TEACHER_PACKAGE  # noqa: E402
from train_embedded import Discriminator, distill_loss  # noqa: E402

pack = load_pack()
from gan_local_edit.core.embedded import load_embedded_generator  # noqa: E402
from gan_local_edit.core.formats import save_generator  # noqa: E402
from gan_local_edit.core.generators.stylemapgan import StyleMapGANConfig, StyleMapGANGenerator  # noqa: E402
from gan_local_edit.core.imaging import save_image_grid  # noqa: E402

CHANNELS = {8: 128, 16: 96, 32: 64, 64: 32}
STUDENT = dict(z_dim=100, style_dim=64, latent_size=8, resolution=64, channels=CHANNELS,
               stylecode_channels=CHANNELS, mapping_layers=4, mapping_hidden=256, mapping_lr_mul=1.0,
               encoder_channels=CHANNELS)


class Trainer:
    def __init__(self, args):
        self.args = args
        torch.manual_seed(args.seed)
        self.G = StyleMapGANGenerator(StyleMapGANConfig(**STUDENT)).train().requires_grad_(True)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.D = Discriminator()
        self.sg = load_embedded_generator("faces64", device="cpu").eval()
        self.dc = FaceTeacher()
        self.rng = torch.Generator().manual_seed(args.seed + 1)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=args.lr, betas=(0.5, 0.99))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=args.lr, betas=(0.0, 0.99))
        self.step, self.train_seconds, self.log = 0, 0.0, []

    def state(self):
        return {"G": self.G.state_dict(), "G_ema": self.G_ema.state_dict(), "D": self.D.state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(), "rng": self.rng.get_state(),
                "torch_rng": torch.get_rng_state(), "step": self.step, "train_seconds": self.train_seconds,
                "log": json.dumps(self.log)}

    def save_checkpoint(self):
        path = os.path.join(self.args.workdir, "checkpoint.pt")
        torch.save(self.state(), path + ".tmp")
        os.replace(path + ".tmp", path)

    def load_checkpoint(self) -> bool:
        path = os.path.join(self.args.workdir, "checkpoint.pt")
        if not os.path.exists(path):
            return False
        st = torch.load(path, map_location="cpu", weights_only=True)
        for k, m in (("G", self.G), ("G_ema", self.G_ema), ("D", self.D), ("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            m.load_state_dict(st[k])
        self.rng.set_state(st["rng"])
        torch.set_rng_state(st["torch_rng"])
        self.step, self.train_seconds, self.log = st["step"], st["train_seconds"], json.loads(st["log"])
        return True

    @torch.no_grad()
    def batch(self):
        """(z, faces64(z)) for the generator, plus teacher-DCGAN faces for the encoder only."""
        a = self.args
        z = torch.randn(a.batch, self.sg.z_dim, generator=self.rng)
        x = self.sg.synthesis(self.sg.mapping(z)).clamp(-1, 1)
        zd = torch.randn(a.dcgan_batch, self.dc.z_dim, generator=self.rng)
        return z, x, self.dc(zd)

    def step_once(self, adversarial: bool):
        a, G = self.args, self.G
        z, x, xd = self.batch()
        real = torch.cat([x, xd])
        s_enc = G.encode(real)
        s_map = G.mapping(z)
        rec, gen = G.synthesis(torch.cat([s_enc, s_map])).split([len(real), len(z)])
        l_rec = distill_loss(rec, real)
        l_gen = distill_loss(gen, x)
        l_map = (s_map - s_enc[:len(z)].detach()).abs().mean()
        l_cyc = (G.encode(gen.detach()) - s_map.detach()).abs().mean()
        loss = l_rec + l_gen + a.w_map * l_map + a.w_cyc * l_cyc
        l_adv = torch.zeros(())
        if adversarial:
            self.D.requires_grad_(False)
            l_adv = F.softplus(-self.D(torch.cat([gen, rec]))).mean()
            loss = loss + a.w_adv * l_adv
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        if adversarial:
            self._d_step(real, torch.cat([gen, rec]).detach())
        with torch.no_grad():
            for pe, p in zip(self.G_ema.parameters(), G.parameters()):
                pe.lerp_(p, 1 - a.ema)
        return {"rec": l_rec.item(), "gen": l_gen.item(), "map": l_map.item(), "cyc": l_cyc.item(),
                "adv": l_adv.item()}

    def _d_step(self, real, fake):
        self.D.requires_grad_(True)
        loss = F.softplus(self.D(fake)).mean() + F.softplus(-self.D(real)).mean()
        if self.step % 16 == 0:     # lazy R1
            real = real.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(self.D(real).sum(), real, create_graph=True)
            loss = loss + g.square().sum(dim=[1, 2, 3]).mean() * (self.args.r1 / 2 * 16)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()

    def export(self, path: str, final: dict):
        g = self.G_ema
        g.estimate_stylemap_avg()
        meta = {"recipe": {k: v for k, v in vars(self.args).items() if k not in ("workdir", "out", "export_only")},
                "teachers": {"generator": "embedded faces64 (StyleGAN2)", "encoder extra": TEACHER_PACKAGE},
                "steps": self.step, "train_seconds": round(self.train_seconds), "final_losses": final,
                "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}
        save_generator(g, path, dtype=self.args.dtype, metadata=meta)
        with torch.no_grad():
            z = torch.randn(16, g.z_dim, generator=torch.Generator().manual_seed(self.args.seed + 9))
            save_image_grid(g.synthesis(g.mapping(z)), os.path.join(self.args.workdir, "samples.png"), cols=8)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", default="runs/stylemap")
    p.add_argument("--out", default="models/embedded/faces64_stylemap.safetensors")
    p.add_argument("--minutes", type=float, default=60.0, help="wall-clock training budget (both stages)")
    p.add_argument("--adv-fraction", type=float, default=0.25, help="share of the budget for stage 2")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--dcgan-batch", type=int, default=4)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--ema", type=float, default=0.995)
    p.add_argument("--w-map", type=float, default=1.0)
    p.add_argument("--w-cyc", type=float, default=1.0)
    p.add_argument("--w-adv", type=float, default=0.05)
    p.add_argument("--r1", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ckpt-every", type=int, default=100)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--dtype", default="float16", choices=["float16", "float32"], help="storage of the shipped file")
    p.add_argument("--export-only", action="store_true", help="write --out from the workdir's checkpoint and stop")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.workdir, exist_ok=True)
    t = Trainer(args)
    if t.load_checkpoint():
        print(f"resumed at step {t.step} ({t.train_seconds:.0f} s)", flush=True)
    if args.export_only:
        t.export(args.out, t.log[-1] if t.log else {})
        print(f"exported step {t.step} -> {args.out}")
        return
    budget = args.minutes * 60
    acc, n = {}, 0
    while t.train_seconds < budget:
        t0 = time.time()
        adversarial = t.train_seconds >= budget * (1 - args.adv_fraction)
        losses = t.step_once(adversarial)
        t.step += 1
        t.train_seconds += time.time() - t0
        for k, v in losses.items():
            acc[k] = acc.get(k, 0.0) + v
        n += 1
        if t.step % args.log_every == 0:
            row = {"step": t.step, "s": round(t.train_seconds), "stage": 2 if adversarial else 1,
                   **{k: round(v / n, 4) for k, v in acc.items()}}
            t.log.append(row)
            print(json.dumps(row), flush=True)
            acc, n = {}, 0
        if t.step % args.ckpt_every == 0:
            t.save_checkpoint()
            t.export(args.out, t.log[-1] if t.log else {})
    t.save_checkpoint()
    t.export(args.out, t.log[-1] if t.log else {})
    with open(os.path.join(args.workdir, "log.json"), "w") as f:
        json.dump(t.log, f)
    print(f"done: {t.step} steps in {t.train_seconds / 60:.1f} min -> {args.out}", flush=True)


if __name__ == "__main__":
    main()

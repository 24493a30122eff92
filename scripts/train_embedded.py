"""Train the embedded 64x64 face StyleGAN2 (``models/embedded/faces64.safetensors``).

No face data set or StyleGAN weights can be downloaded here, so a real pretrained face
DCGAN (PyPI ``gan-face-generate``, see ``face_teacher.py``) serves as an unlimited,
on-the-fly data source. Two stages, and an optional third:

1. distillation: student(z) ~ teacher(z) for the same z (L1 + multi-scale L1 + SSIM).
   Fast to converge, blurry, but already gives the student the teacher's face layout.
2. adversarial fine-tuning (non-saturating loss + lazy R1, a small resnet
   discriminator with minibatch-stddev) PLUS the distillation loss, with style mixing
   on half of each batch so W+ layers stay separable for editing.
3. (``--stage3-kimg``) the same with a weaker distillation weight, which pulls coarse
   structure towards the per-z average (an L1 regression under uncertainty flattens
   contrast), plus StyleGAN2's lazy path-length regulariser, which makes every direction
   of W move the image about equally: a projected image then determines its w.

The student is the pack's own ``StyleGAN2Generator`` (FIR up-sampling, modulated convs),
so the shipped model exercises exactly the code users run. Seeded and resumable: every
random draw comes from generators whose state is checkpointed, and stage lengths are in
images, so the same seed on the same hardware and thread count reproduces a run.

    pip install --no-deps gan-face-generate==1.1.1
    python scripts/train_embedded.py --workdir runs/faces64 --out models/embedded/faces64.safetensors
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import load_pack  # noqa: E402
from face_teacher import FaceTeacher, PACKAGE as TEACHER_PACKAGE  # noqa: E402

pack = load_pack()
from gan_local_edit.core.generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator  # noqa: E402
from gan_local_edit.core.formats import save_generator  # noqa: E402
from gan_local_edit.core.imaging import save_image_grid  # noqa: E402

STUDENT = dict(z_dim=100, w_dim=256, resolution=64, channels={4: 256, 8: 256, 16: 128, 32: 64, 64: 32},
               mapping_layers=4, mapping_lr_mul=0.01, architecture="skip")


# --- discriminator (training only) ------------------------------------------------------
class EqConv(nn.Module):
    """Conv with equalised learning rate (weights scaled by 1/sqrt(fan_in) at run time)."""

    def __init__(self, cin, cout, k, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.gain, self.pad = 1 / math.sqrt(cin * k * k), k // 2

    def forward(self, x):
        return F.conv2d(x, self.weight * self.gain, self.bias, padding=self.pad)


class EqLinear(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.gain = 1 / math.sqrt(cin)

    def forward(self, x):
        return F.linear(x, self.weight * self.gain, self.bias)


def lrelu(x):
    return F.leaky_relu(x, 0.2) * math.sqrt(2)


class DBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv0, self.conv1, self.skip = EqConv(cin, cin, 3), EqConv(cin, cout, 3), EqConv(cin, cout, 1, False)

    def forward(self, x):
        y = self.skip(F.avg_pool2d(x, 2))
        x = F.avg_pool2d(lrelu(self.conv1(lrelu(self.conv0(x)))), 2)
        return (x + y) / math.sqrt(2)


class Discriminator(nn.Module):
    """Resnet discriminator from ``resolution`` down to 4x4, minibatch-stddev at the end."""

    def __init__(self, channels=None, resolution=64):
        super().__init__()
        ch = channels or {64: 16, 32: 32, 16: 64, 8: 128, 4: 128}
        self.fromrgb = EqConv(3, ch[resolution], 1)
        res = [resolution // 2 ** i for i in range(int(math.log2(resolution)) - 2)]
        self.blocks = nn.Sequential(*[DBlock(ch[r], ch[r // 2]) for r in res])
        self.conv = EqConv(ch[4] + 1, ch[4], 3)
        self.fc = EqLinear(ch[4] * 16, ch[4])
        self.out = EqLinear(ch[4], 1)

    def forward(self, img):
        x = self.blocks(lrelu(self.fromrgb(img)))
        b = x.shape[0]
        g = min(4, b)
        y = x.reshape(g, -1, *x.shape[1:])  # minibatch standard deviation over groups of g
        y = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt().mean(dim=[1, 2, 3])
        y = y.reshape(-1, 1, 1, 1).repeat(g, 1, *x.shape[2:])
        x = lrelu(self.conv(torch.cat([x, y], 1)))
        return self.out(lrelu(self.fc(x.flatten(1))))


# --- losses -------------------------------------------------------------------------------
def distill_loss(fake, real):
    from kornia.losses import ssim_loss
    loss = (fake - real).abs().mean()
    f, r = fake, real
    for _ in range(2):
        f, r = F.avg_pool2d(f, 2), F.avg_pool2d(r, 2)
        loss = loss + (f - r).abs().mean()
    return loss + ssim_loss((fake + 1) / 2, (real + 1) / 2, window_size=7)


def mix_styles(g, ws, z2, rng):
    """Replace the W+ rows after a random cutoff by another sample's w (style mixing)."""
    ws2 = g.mapping(z2)
    cut = int(torch.randint(1, g.num_ws, (1,), generator=rng))
    return torch.cat([ws[:, :cut], ws2[:, cut:]], dim=1)


# --- training -------------------------------------------------------------------------------
class Trainer:
    def __init__(self, args):
        self.args = args
        torch.manual_seed(args.seed)
        self.G = StyleGAN2Generator(StyleGAN2Config(**STUDENT)).train().requires_grad_(True)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.D = Discriminator()
        # optional second critic that sees only the 16x16 low-pass image: the coarse layout and
        # colour statistics the full-size critic weighs little (stage 3 only)
        self.D16 = Discriminator(resolution=16) if args.d16_weight > 0 else None
        self.teacher = FaceTeacher()
        self.data_rng = torch.Generator().manual_seed(args.seed + 1)
        self.noise_rng = torch.Generator().manual_seed(args.seed + 2)
        self.mix_rng = torch.Generator().manual_seed(args.seed + 3)
        self.sample_z = torch.randn(64, STUDENT["z_dim"], generator=torch.Generator().manual_seed(args.seed + 4))
        self.nimg, self.step, self.stage, self.train_seconds = 0, 0, 1, 0.0
        self.pl_mean = torch.zeros(())
        self.init_nimg = 0
        self._make_optimizers()

    def _make_optimizers(self):
        betas = (0.9, 0.99) if self.stage == 1 else (0.0, 0.99)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=self.args.lr, betas=betas)
        r1_ratio = self.args.r1_interval / (self.args.r1_interval + 1)
        d_params = list(self.D.parameters()) + (list(self.D16.parameters()) if self.D16 is not None else [])
        self.opt_d = torch.optim.Adam(d_params, lr=self.args.lr * r1_ratio, betas=(0.0, 0.99 ** r1_ratio))

    # checkpointing ---------------------------------------------------------------------
    def state(self):
        return {"G": self.G.state_dict(), "G_ema": self.G_ema.state_dict(), "D": self.D.state_dict(),
                "D16": self.D16.state_dict() if self.D16 is not None else None,
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "rng": [self.data_rng.get_state(), self.noise_rng.get_state(), self.mix_rng.get_state(),
                        torch.get_rng_state()],
                "nimg": self.nimg, "step": self.step, "stage": self.stage, "train_seconds": self.train_seconds,
                "pl_mean": self.pl_mean, "init_nimg": self.init_nimg}

    def save_checkpoint(self):
        path = os.path.join(self.args.workdir, "checkpoint.pt")
        torch.save(self.state(), path + ".tmp")
        os.replace(path + ".tmp", path)  # never leave a half-written checkpoint

    def load_checkpoint(self):
        path = os.path.join(self.args.workdir, "checkpoint.pt")
        if not os.path.exists(path):
            return False
        st = torch.load(path, map_location="cpu", weights_only=True)
        self.G.load_state_dict(st["G"])
        self.G_ema.load_state_dict(st["G_ema"])
        self.D.load_state_dict(st["D"])
        if self.D16 is not None:
            self.D16.load_state_dict(st["D16"])
        self.nimg, self.step, self.stage, self.train_seconds = st["nimg"], st["step"], st["stage"], st["train_seconds"]
        self.init_nimg = st.get("init_nimg", 0)
        self.pl_mean = st.get("pl_mean", torch.zeros(()))
        self._make_optimizers()
        self.opt_g.load_state_dict(st["opt_g"])
        self.opt_d.load_state_dict(st["opt_d"])
        for g, s in zip((self.data_rng, self.noise_rng, self.mix_rng), st["rng"][:3]):
            g.set_state(s)
        torch.set_rng_state(st["rng"][3])
        return True

    def init_from_generator(self, path: str, nimg: int):
        """Start stage 3 from a trained generator file (G and G_ema), with fresh critics."""
        from gan_local_edit.core.formats import load_generator
        trained = load_generator(path, device="cpu")
        weights = {k: v.float() for k, v in trained.state_dict().items()}
        self.G.load_state_dict(weights)
        self.G_ema.load_state_dict(weights)
        self.stage, self.nimg = 3, nimg
        self.init_nimg = nimg
        self._make_optimizers()

    @property
    def uses_d16(self) -> bool:
        return self.D16 is not None and self.stage == 3

    # one step ----------------------------------------------------------------------------
    def batch(self):
        z = torch.randn(self.args.batch, STUDENT["z_dim"], generator=self.data_rng)
        return z, self.teacher(z)

    def path_length_penalty(self):
        """(|J_w^T y| - running mean)^2 for image-space noise y (Karras et al. 2020, Sec. 3.2)."""
        z = torch.randn(max(self.args.batch // 2, 1), STUDENT["z_dim"], generator=self.data_rng)
        ws = self.G.mapping(z)
        img = self.G.synthesis(ws, noise_mode="random", generator=self.noise_rng)
        y = torch.randn(img.shape, generator=self.noise_rng) / math.sqrt(img.shape[2] * img.shape[3])
        (grad,) = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
        lengths = grad.square().sum(2).mean(1).sqrt()
        self.pl_mean = self.pl_mean.lerp(lengths.mean().detach(), 0.01)
        return (lengths - self.pl_mean).square().mean()

    def update_ema(self):
        ema_nimg = min(self.args.ema_kimg * 1000, self.nimg * self.args.ema_rampup)
        beta = 0.5 ** (self.args.batch / max(ema_nimg, 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
                p_ema.copy_(p.detach().lerp(p_ema, beta))
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
                b_ema.copy_(b)

    def train_step(self):
        a = self.args
        logs = {}
        z, real = self.batch()
        if self.stage >= 2:
            # discriminator: real teacher faces vs current student faces
            z_f = torch.randn(a.batch, STUDENT["z_dim"], generator=self.data_rng)
            with torch.no_grad():
                fake_d = self.G.synthesis(self.G.mapping(z_f), noise_mode="random", generator=self.noise_rng)
            _, real_d = self.batch()
            loss_d = F.softplus(self.D(fake_d)).mean() + F.softplus(-self.D(real_d)).mean()
            if self.uses_d16:
                loss_d = loss_d + a.d16_weight * (F.softplus(self.D16(F.avg_pool2d(fake_d, 4))).mean()
                                                  + F.softplus(-self.D16(F.avg_pool2d(real_d, 4))).mean())
            if self.step % a.r1_interval == 0:
                real_r = real_d.detach().requires_grad_(True)
                scores = self.D(real_r).sum()
                if self.uses_d16:
                    scores = scores + a.d16_weight * self.D16(F.avg_pool2d(real_r, 4)).sum()
                (grad,) = torch.autograd.grad(scores, real_r, create_graph=True)
                r1 = grad.square().sum(dim=[1, 2, 3]).mean()
                loss_d = loss_d + r1 * (a.r1_gamma / 2) * a.r1_interval
                logs["r1"] = float(r1.detach())
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            logs["d"] = float(loss_d.detach())
        if self.init_nimg and self.nimg < self.init_nimg + a.d_warmup_kimg * 1000:
            self.nimg += a.batch       # the fresh critics learn first; G and G_ema stay as loaded
            self.step += 1
            return logs
        ws = self.G.mapping(z)
        fake = self.G.synthesis(ws, noise_mode="random", generator=self.noise_rng)
        loss = distill_loss(fake, real)
        logs["distill"] = float(loss.detach())
        if self.stage >= 2:
            z2, z3 = torch.randn(2, a.batch // 2, STUDENT["z_dim"], generator=self.data_rng)
            mixed = mix_styles(self.G, self.G.mapping(z2), z3, self.mix_rng)
            fake_mix = self.G.synthesis(mixed, noise_mode="random", generator=self.noise_rng)
            both = torch.cat([fake, fake_mix])
            adv = F.softplus(-self.D(both)).mean()
            if self.uses_d16:
                adv = adv + a.d16_weight * F.softplus(-self.D16(F.avg_pool2d(both, 4))).mean()
            weight = a.distill_weight if self.stage == 2 else a.stage3_distill_weight
            loss = weight * loss + adv
            logs["adv"] = float(adv.detach())
        if self.stage == 3 and a.pl_weight > 0 and self.step % a.pl_interval == 0:
            loss = loss + self.path_length_penalty() * a.pl_weight * a.pl_interval
            logs["pl"] = float(self.pl_mean)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        self.nimg += a.batch
        self.step += 1
        self.update_ema()
        return logs

    # loop -------------------------------------------------------------------------------------
    def run(self):
        a = self.args
        os.makedirs(a.workdir, exist_ok=True)
        stage_end = {1: a.stage1_kimg * 1000, 2: (a.stage1_kimg + a.stage2_kimg) * 1000}
        if self.load_checkpoint():
            print(f"resumed at stage {self.stage}, {self.nimg / 1000:.1f} kimg, {self.train_seconds / 60:.1f} min")
        elif a.init_generator:
            self.init_from_generator(a.init_generator, int(stage_end[2]))
            print(f"stage 3 from {a.init_generator}; critics warm up for {a.d_warmup_kimg} kimg")
        total = stage_end[2] + a.stage3_kimg * 1000
        last_log = last_ckpt = time.time()
        window_t, window_n = time.time(), self.nimg
        while self.nimg < total:
            if self.stage == 1 and self.nimg >= stage_end[1]:
                self.stage = 2
                self._make_optimizers()
                print("stage 2: adversarial fine-tuning")
            if self.stage == 2 and self.nimg >= stage_end[2]:
                self.stage = 3          # same optimisers: only the loss weights change
                print("stage 3: weaker distillation, path-length regularisation")
            t0 = time.time()
            logs = self.train_step()
            self.train_seconds += time.time() - t0
            now = time.time()
            if now - last_log > a.log_seconds:
                rate = (self.nimg - window_n) / (now - window_t)
                eta = (total - self.nimg) / max(rate, 1e-6)
                print(f"stage {self.stage} {self.nimg / 1000:7.1f}/{total / 1000:.0f} kimg  {rate:5.1f} img/s  "
                      f"ETA {eta / 60:5.1f} min  " + " ".join(f"{k} {v:.4f}" for k, v in logs.items()), flush=True)
                last_log, window_t, window_n = now, now, self.nimg
            if now - last_ckpt > a.checkpoint_minutes * 60:
                self.save_checkpoint()
                self.save_samples()
                last_ckpt = now
        self.save_checkpoint()
        self.save_samples()
        self.export()

    @torch.no_grad()
    def save_samples(self):
        g = self.G_ema
        ws = g.mapping(self.sample_z, truncation_psi=0.7 if g.w_avg.abs().sum() > 0 else 1.0)
        save_image_grid(g.synthesis(ws), os.path.join(self.args.workdir, f"samples_{self.nimg // 1000:06d}kimg.png"), 8)

    @torch.no_grad()
    def export(self):
        a = self.args
        g = self.G_ema
        z = torch.randn(16384, STUDENT["z_dim"], generator=torch.Generator().manual_seed(a.seed + 5))
        g.mapping_net.w_avg.copy_(g.mapping(z)[:, 0].mean(0))
        g.source_format = "trained: scripts/train_embedded.py"
        meta = {
            "name": "faces64",
            "description": "64x64 face StyleGAN2 distilled from a face DCGAN, then adversarially fine-tuned",
            "teacher": f"{TEACHER_PACKAGE} (DCGAN, MIT licensed code; faces learned from DigiFace-1M, "
                       "research use only)",
            "seed": a.seed, "stage1_kimg": a.stage1_kimg, "stage2_kimg": a.stage2_kimg, "batch": a.batch,
            "stage3_kimg": a.stage3_kimg, "stage3_distill_weight": a.stage3_distill_weight,
            "pl_weight": a.pl_weight, "pl_interval": a.pl_interval, "d16_weight": a.d16_weight,
            "init_generator": os.path.basename(a.init_generator) if a.init_generator else None,
            "d_warmup_kimg": a.d_warmup_kimg if a.init_generator else None,
            "lr": a.lr, "r1_gamma": a.r1_gamma, "distill_weight": a.distill_weight,
            "train_seconds": round(self.train_seconds), "threads": torch.get_num_threads(),
            "hardware": cpu_name(), "torch": torch.__version__, "python": platform.python_version(),
        }
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        save_generator(g, a.out, dtype="float16", metadata={"provenance": json.dumps(meta)})
        print(f"wrote {a.out} ({os.path.getsize(a.out) / 1e6:.1f} MB); trained {self.train_seconds / 60:.1f} min")


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() + f" ({os.cpu_count()} cores)"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workdir", default="runs/faces64", help="checkpoints and sample grids (resumes from here)")
    p.add_argument("--out", default="models/embedded/faces64.safetensors")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--stage1-kimg", type=float, default=150)
    p.add_argument("--stage2-kimg", type=float, default=90)
    p.add_argument("--distill-weight", type=float, default=1.0)
    p.add_argument("--stage3-kimg", type=float, default=0.0, help="optional third stage (see above)")
    p.add_argument("--stage3-distill-weight", type=float, default=0.3)
    p.add_argument("--pl-weight", type=float, default=2.0, help="path-length regulariser weight (stage 3)")
    p.add_argument("--pl-interval", type=int, default=4)
    p.add_argument("--d16-weight", type=float, default=0.0,
                   help="weight of a second critic on the 16x16 low-pass image (stage 3; 0 = none)")
    p.add_argument("--init-generator", default=None,
                   help="start stage 3 from this trained generator file (fresh critics) when the workdir has "
                        "no checkpoint, e.g. the shipped models/embedded/faces64.safetensors")
    p.add_argument("--d-warmup-kimg", type=float, default=10.0,
                   help="with --init-generator: images during which only the critics train")
    p.add_argument("--r1-gamma", type=float, default=0.05)
    p.add_argument("--r1-interval", type=int, default=16)
    p.add_argument("--ema-kimg", type=float, default=10.0)
    p.add_argument("--ema-rampup", type=float, default=0.05)
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--log-seconds", type=float, default=30.0)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    Trainer(args).run()


if __name__ == "__main__":
    main()

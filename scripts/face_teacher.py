"""The real 64x64 face DCGAN shipped in the PyPI package ``gan-face-generate`` (teacher/data source).

Used only by training and evaluation scripts, never at run time by the pack. Install it
without its dependencies (they pull a CUDA torch):  pip install --no-deps gan-face-generate==1.1.1
The network is rebuilt here from the weight shapes (transposed convs + eval-mode batch
norm + ReLU, tanh output); the package's own code is not imported.
"""
from __future__ import annotations

import importlib.util
import os

import torch
import torch.nn.functional as F

PACKAGE = "gan-face-generate==1.1.1"


def teacher_weights_path() -> str:
    spec = importlib.util.find_spec("gan_face_generate")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"the teacher model is missing: pip install --no-deps {PACKAGE}")
    path = os.path.join(list(spec.submodule_search_locations)[0], "weights.tar")
    if not os.path.exists(path):
        raise SystemExit(f"{path} not found; reinstall with: pip install --no-deps {PACKAGE}")
    return path


class FaceTeacher(torch.nn.Module):
    """z [B, 100] -> face image [B, 3, 64, 64] in [-1, 1]."""

    def __init__(self, path: str | None = None):
        super().__init__()
        sd = torch.load(path or teacher_weights_path(), map_location="cpu", weights_only=True)["netG_state_dict"]
        convs = sorted({int(k.split(".")[1]) for k in sd if k.endswith(".weight") and sd[k].ndim == 4})
        self.convs = [sd[f"main.{i}.weight"].float() for i in convs]
        self.norms = []
        for i in convs[:-1]:
            j = i + 1
            self.norms.append(tuple(sd[f"main.{j}.{n}"].float() for n in ("running_mean", "running_var", "weight", "bias")))
        self.z_dim = self.convs[0].shape[0]

    @torch.no_grad()
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z.reshape(z.shape[0], -1, 1, 1)
        for k, w in enumerate(self.convs):
            x = F.conv_transpose2d(x, w, stride=1 if k == 0 else 2, padding=0 if k == 0 else 1)
            if k < len(self.norms):
                mean, var, gamma, beta = self.norms[k]
                x = F.relu(F.batch_norm(x, mean, var, gamma, beta, training=False, eps=1e-5))
        return torch.tanh(x)

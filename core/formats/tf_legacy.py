"""Legacy TensorFlow StyleGAN2 pickles (the original NVIDIA releases) -> StyleGAN2Generator.

Such a file is a tuple ``(G, D, Gs)`` of ``dnnlib.tflib.network.Network`` objects whose
state lists ``(name, ndarray)`` variables. ``restricted_pickle`` turns them into stubs
(never executing ``build_module_src``); here the TF variables of ``Gs`` are renamed and
re-laid-out into the NVIDIA PyTorch layout, without TensorFlow.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import CheckpointError, UnsupportedCheckpointError
from ..generators.stylegan2 import StyleGAN2Config
from .common import build_stylegan2
from .restricted_pickle import TFNetworkStub

def _variables(net: TFNetworkStub) -> dict:
    out = {}
    for item in net.state.get("variables") or []:
        name, value = item
        out[name] = np.asarray(value)
    return out


def _t(a: np.ndarray) -> torch.Tensor:
    if a.dtype.kind != "f":
        raise CheckpointError(f"a TF variable has dtype {a.dtype}, expected floating point")
    return torch.from_numpy(np.array(a, dtype=np.float32, order="C")).reshape(a.shape)


def generator_from_tf(networks):
    try:
        return _convert(networks)
    except KeyError as e:
        raise CheckpointError(f"it lacks the TF variable {e.args[0]!r} that a StyleGAN2 of its configuration has") from None


def _convert(networks):
    if not (isinstance(networks, tuple) and len(networks) == 3 and all(isinstance(n, TFNetworkStub) for n in networks)):
        raise CheckpointError("it is not a (G, D, Gs) tuple of TF networks")
    gs = networks[2]
    comps = gs.state.get("components") or {}
    syn, mapn = comps.get("synthesis"), comps.get("mapping")
    if syn is None or mapn is None:
        raise CheckpointError("its Gs network has no synthesis or mapping component")
    func = syn.state.get("build_func_name", "")
    if func != "G_synthesis_stylegan2":
        raise UnsupportedCheckpointError(
            f"its synthesis network is {func!r}: only StyleGAN2 ('G_synthesis_stylegan2') TF pickles are supported")
    kw = dict(gs.state.get("static_kwargs") or {})
    kw.update(syn.state.get("static_kwargs") or {})
    if int(kw.get("label_size", 0)):
        raise UnsupportedCheckpointError("class-conditional TF pickles (label_size > 0) are not supported yet")
    for key, default in (("nonlinearity", "lrelu"), ("mapping_nonlinearity", "lrelu")):
        if kw.get(key, default) != default:
            raise UnsupportedCheckpointError(f"{key}={kw[key]!r} is not supported (only lrelu)")
    arch = kw.get("architecture", "skip")

    sv, mv, gv = _variables(syn), _variables(mapn), _variables(gs)
    res = int(kw.get("resolution", 1024))
    state, channels = {}, {}
    for i in range(int(math.log2(res)) - 1):
        r = 2 ** (i + 2)
        if r == 4:
            state["synthesis.b4.const"] = _t(sv["4x4/Const/const"])[0]
            layers = [("Conv", "conv1", False)]
        else:
            layers = [("Conv0_up", "conv0", True), ("Conv1", "conv1", False)]
        for tf_name, ours, flip in layers:
            p = f"{r}x{r}/{tf_name}/"
            w = sv[p + "weight"]
            if flip:  # TF's up-sampling conv is a transposed convolution: flip spatially
                w = w[::-1, ::-1]
            q = f"synthesis.b{r}.{ours}."
            state[q + "weight"] = _t(w.transpose(3, 2, 0, 1))
            state[q + "affine.weight"] = _t(sv[p + "mod_weight"].T)
            state[q + "affine.bias"] = _t(sv[p + "mod_bias"]) + 1
            state[q + "bias"] = _t(sv[p + "bias"])
            if kw.get("use_noise", True):
                state[q + "noise_strength"] = _t(sv[p + "noise_strength"]).reshape(())
        channels[r] = state[f"synthesis.b{r}.conv1.weight"].shape[0]
        if arch == "skip" or r == res:
            p, q = f"{r}x{r}/ToRGB/", f"synthesis.b{r}.torgb."
            state[q + "weight"] = _t(sv[p + "weight"].transpose(3, 2, 0, 1))
            state[q + "affine.weight"] = _t(sv[p + "mod_weight"].T)
            state[q + "affine.bias"] = _t(sv[p + "mod_bias"]) + 1
            state[q + "bias"] = _t(sv[p + "bias"])
        if arch == "resnet" and r > 4:
            state[f"synthesis.b{r}.skip.weight"] = _t(sv[f"{r}x{r}/Skip/weight"][::-1, ::-1].transpose(3, 2, 0, 1))
    if kw.get("use_noise", True):
        num_noise = 2 * (int(math.log2(res)) - 1) - 1
        for k in range(num_noise):
            noise = _t(sv[f"noise{k}"])[0, 0]
            if k == 0:
                state["synthesis.b4.conv1.noise_const"] = noise
            else:
                r = 2 ** ((k + 5) // 2)
                state[f"synthesis.b{r}.conv{(k + 1) % 2}.noise_const"] = noise
    n_layers = int(kw.get("mapping_layers", 8))
    for i in range(n_layers):
        state[f"mapping.fc{i}.weight"] = _t(mv[f"Dense{i}/weight"].T)
        state[f"mapping.fc{i}.bias"] = _t(mv[f"Dense{i}/bias"])
    state["mapping.w_avg"] = _t(gv["dlatent_avg"])
    z_dim = int(kw.get("latent_size", 512))
    w_dim = int(kw.get("dlatent_size", 512))
    hidden = int(kw.get("mapping_fmaps", 512))
    cfg = StyleGAN2Config(
        z_dim=z_dim, w_dim=w_dim, resolution=res, channels=channels, mapping_layers=n_layers,
        mapping_features=hidden if n_layers > 1 else None, mapping_lr_mul=float(kw.get("mapping_lrmul", 0.01)),
        img_channels=int(kw.get("num_channels", 3)), architecture=arch,
        conv_clamp=kw.get("conv_clamp"), resample_filter=list(kw.get("resample_kernel", [1, 3, 3, 1])),
        use_noise=bool(kw.get("use_noise", True)))
    return build_stylegan2(cfg, state, source="nvidia-tf-pickle")

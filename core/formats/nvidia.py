"""NVIDIA StyleGAN2 PyTorch pickles (stylegan2-ada-pytorch, stylegan3 repo) -> StyleGAN2Generator.

The pickle is read by ``restricted_pickle`` into ``PersistentObject`` stubs; this module
walks the stub tree of ``G_ema`` and rebuilds the configuration from the objects' own
attributes and weight shapes (never from the embedded source).
"""
from __future__ import annotations


from ..errors import CheckpointError, UnsupportedCheckpointError
from ..generators.stylegan2 import StyleGAN2Config
from .common import build_stylegan2, filter_taps
from .restricted_pickle import PersistentObject

STYLEGAN2_CLASSES = {"Generator", "MappingNetwork", "FullyConnectedLayer", "SynthesisNetwork",
                     "SynthesisBlock", "SynthesisLayer", "ToRGBLayer", "Conv2dLayer"}
STYLEGAN3_MARKERS = {"SynthesisInput"}


def _walk_state(obj: PersistentObject, prefix: str = ""):
    """Yield (dotted name, tensor) for every parameter and persistent buffer."""
    st = obj.state
    skip = set(st.get("_non_persistent_buffers_set") or ())
    for name, t in (st.get("_parameters") or {}).items():
        if t is not None:
            yield prefix + name, t
    for name, t in (st.get("_buffers") or {}).items():
        if t is not None and name not in skip:
            yield prefix + name, t
    for name, child in obj.children().items():
        if isinstance(child, PersistentObject):
            yield from _walk_state(child, prefix + name + ".")
        elif child is not None:
            raise CheckpointError(f"module {prefix + name} is a {type(child).__name__}, not a network layer")


def _class_names(obj: PersistentObject, out=None):
    out = set() if out is None else out
    out.add(obj.class_name)
    for child in obj.children().values():
        if isinstance(child, PersistentObject):
            _class_names(child, out)
    return out


def generator_from_nvidia(G: PersistentObject):
    names = _class_names(G)
    if names & STYLEGAN3_MARKERS:
        raise UnsupportedCheckpointError(
            "it is a StyleGAN3 (alias-free) network pickle; StyleGAN3 is not supported yet")
    foreign = names - STYLEGAN2_CLASSES
    if G.class_name != "Generator" or foreign:
        raise UnsupportedCheckpointError(
            f"its G_ema is made of classes {sorted(foreign or {G.class_name})} that are not StyleGAN2 layers")
    mapping, synthesis = G.child("mapping"), G.child("synthesis")
    if mapping is None or synthesis is None:
        raise CheckpointError("its G_ema has no mapping or synthesis network")

    res = int(G.attr("img_resolution"))
    blocks = {}
    for name, child in synthesis.children().items():
        if not name.startswith("b"):
            raise CheckpointError(f"unexpected synthesis child {name!r}")
        blocks[int(name[1:])] = child
    channels, archs, clamps, filters, activations = {}, set(), set(), [], set()
    use_noise = True
    for r, block in sorted(blocks.items()):
        conv1 = block.child("conv1")
        channels[r] = int(conv1.state["_parameters"]["weight"].shape[0])
        archs.add(block.attr("architecture", "skip"))
        for layer_name in ("conv0", "conv1"):
            layer = block.child(layer_name)
            if layer is None:
                continue
            activations.add(layer.attr("activation", "lrelu"))
            clamps.add(layer.attr("conv_clamp"))
            use_noise = use_noise and bool(layer.attr("use_noise", True))
            f = (layer.state.get("_buffers") or {}).get("resample_filter")
            if f is not None:
                filters.append(f)
        torgb = block.child("torgb")
        if torgb is not None:
            clamps.add(torgb.attr("conv_clamp"))
    if activations - {"lrelu"}:
        raise UnsupportedCheckpointError(f"its synthesis uses activation(s) {sorted(activations)}; only lrelu is supported")
    if len(archs) != 1 or len(clamps) != 1:
        raise UnsupportedCheckpointError(f"mixed architectures {archs} or conv clamps {clamps} across blocks")

    fcs = sorted((n for n in mapping.children() if n.startswith("fc")), key=lambda n: int(n[2:]))
    fc0 = mapping.child(fcs[0])
    lr_mul = float(fc0.attr("bias_gain", 0.01))
    c_dim = int(G.attr("c_dim", 0) or 0)
    embed = mapping.child("embed")
    cfg = StyleGAN2Config(
        z_dim=int(G.attr("z_dim")), w_dim=int(G.attr("w_dim")), c_dim=c_dim, resolution=res,
        channels=channels, mapping_layers=len(fcs),
        mapping_features=int(fc0.state["_parameters"]["weight"].shape[0]) if len(fcs) > 1 else None,
        mapping_lr_mul=lr_mul,
        embed_features=int(embed.state["_parameters"]["weight"].shape[0]) if embed is not None else None,
        img_channels=int(G.attr("img_channels", 3)), architecture=archs.pop(),
        conv_clamp=(None if (c := clamps.pop()) is None else float(c)),
        resample_filter=filter_taps(filters[0]) if filters else [1, 3, 3, 1], use_noise=use_noise)
    if embed is None and c_dim:
        raise CheckpointError("c_dim > 0 but the mapping network has no class embedding")
    state = {k: v for k, v in _walk_state(G) if not k.endswith("resample_filter")}
    return build_stylegan2(cfg, state, source="nvidia-pytorch-pickle")

"""Model identity: when an artefact built for one generator (a catalog) may be used with another.

"The same model" means: the same architecture and construction config, the same weight
tensors (names and shapes), and weights that agree within float16 rounding. So a checkpoint,
its float16 conversion (`Convert Checkpoint`, `python3 . convert --dtype float16`), the same
weights read from another format, and the model on another device are one model; a model
trained or fine-tuned separately is another. A pivotal-tuned copy keeps its original's identity
as ``base_identity`` (its latent space is the original's) and is accepted too.

The identity is compact (it is stored inside every catalog): per tensor its RMS and
``PROBES`` evenly spaced entries. It is compared with a tolerance instead of a hash of the
bytes: float16 keeps 11 significant bits (relative rounding <= 2^-11 = 4.9e-4), so entries
may differ by ``REL_TOL`` of themselves plus ``ABS_TOL`` of their tensor's RMS.
"""
from __future__ import annotations

import json

import torch

from .errors import IncompatibleInputError

VERSION = 1
PROBES = 16
REL_TOL = 2e-3
ABS_TOL = 1e-3


def _short(v: float) -> float:
    return float(f"{v:.7g}")


def model_identity(generator) -> dict:
    """The identity record of a generator (JSON-able; cached until its fingerprint changes)."""
    fp = generator.fingerprint()
    cached = getattr(generator, "_identity_cache", None)
    if cached is not None and cached[0] == fp:
        return cached[1]
    tensors = {}
    with torch.no_grad():
        for name, t in sorted(generator.state_dict().items()):
            flat = t.detach().reshape(-1)
            n = flat.numel()
            if n == 0:
                tensors[name] = [list(t.shape), 0.0, []]
                continue
            idx = torch.linspace(0, n - 1, min(PROBES, n), device=flat.device).round().long()
            rms = float(flat.float().square().mean().sqrt())
            tensors[name] = [list(t.shape), _short(rms), [_short(float(v)) for v in flat[idx].float().cpu()]]
    ident = {"version": VERSION, "architecture": generator.architecture,
             "config": json.loads(json.dumps(generator.config(), sort_keys=True)), "tensors": tensors}
    generator._identity_cache = (fp, ident)
    return ident


def identity_difference(saved: dict, current: dict) -> str | None:
    """None when the two records describe the same model, else why not (one phrase)."""
    if saved.get("version") != VERSION:
        return f"its identity record has version {saved.get('version')!r}, this pack reads {VERSION}"
    if saved["architecture"] != current["architecture"]:
        return f"another architecture ({saved['architecture']} vs {current['architecture']})"
    if saved["config"] != current["config"]:
        keys = sorted(k for k in set(saved["config"]) | set(current["config"])
                      if saved["config"].get(k) != current["config"].get(k))
        return "another configuration (" + ", ".join(
            f"{k}: {saved['config'].get(k)} vs {current['config'].get(k)}" for k in keys[:3]) + ")"
    a, b = saved["tensors"], current["tensors"]
    if set(a) != set(b):
        extra = sorted(set(a) ^ set(b))
        return f"other weight tensors ({', '.join(extra[:3])})"
    for name in sorted(a):
        (shape_a, rms_a, va), (shape_b, rms_b, vb) = a[name], b[name]
        if shape_a != shape_b:
            return f"{name} has shape {shape_a} vs {shape_b}"
        scale = max(abs(rms_a), abs(rms_b))
        if abs(rms_a - rms_b) > REL_TOL * scale or any(
                abs(x - y) > REL_TOL * max(abs(x), abs(y)) + ABS_TOL * scale for x, y in zip(va, vb)):
            return f"the weights differ beyond float16 rounding (first at {name})"
    return None


def identity_meta(generator) -> dict:
    """The metadata entries ``check_same_model`` reads: saved with every catalog, unit table and
    set of directions built on ``generator``."""
    return {"generator_fingerprint": generator.fingerprint(), "generator_identity": model_identity(generator),
            "generator_name": generator.name}


def check_same_model(meta: dict, generator, what: str = "this catalog") -> None:
    """Refuse ``generator`` unless it is the model ``meta`` (of a catalog) was built for.

    ``meta`` holds ``generator_identity`` (catalogs built since identities exist) and/or the
    exact ``generator_fingerprint`` (older catalogs: then only the very same weights pass).
    """
    fp = meta.get("generator_fingerprint")
    if fp and fp in (generator.fingerprint(), getattr(generator, "base_fingerprint", None)):
        return
    saved = meta.get("generator_identity")
    built_for = f"{what} was built for generator '{meta.get('generator_name', '?')}'"
    if saved is None:
        if not fp:
            return
        raise IncompatibleInputError(
            f"{built_for} (fingerprint {fp}), not for '{generator.name}' ({generator.fingerprint()}); it "
            f"predates tolerant model identities, so only the exact same weights are accepted: rebuild it")
    why = identity_difference(saved, model_identity(generator))
    base = getattr(generator, "base_identity", None)
    if why is not None and base is not None and identity_difference(saved, base) is None:
        return
    if why is not None:
        raise IncompatibleInputError(f"{built_for}, not for '{generator.name}': {why}")

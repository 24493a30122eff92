"""Issue 16, round 3, idea 3: does the face's yaw-like horizontal shift, read from the matcher, predict
where the nose tip goes?

Per pair and target kind: the default matcher's nose-tip estimate, and a yaw proxy d = how far (x,
% of the image) the default matches of the reference's two eyes land from where the whole-image match
alone maps them (mean of the two). The nose's horizontal residual is modelled as k * d, k fitted by
least squares on pairs --fit-from.. (end) and evaluated on pairs 0..--fit-from-1 (DISJOINT).

    /work/venv-eval/bin/python scripts/diag_nose_yaw.py --cache /tmp/i16b_p200.pt --fit-from 100
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import add_common_args, apply_common_args, load_pack  # noqa: E402

load_pack()
from gan_local_edit.core.embedded import load_embedded_generator  # noqa: E402
from gan_local_edit.core.ops.deformable_match import match_taps  # noqa: E402
from gan_local_edit.core.ops.match_eval import disc_mask  # noqa: E402
from gan_local_edit.core.ops.match_methods import MATCH_METHODS  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cache", required=True)
    p.add_argument("--fit-from", type=int, default=100)
    add_common_args(p, out=False).set_defaults(threads=1)
    args = apply_common_args(p.parse_args(argv))
    g = load_embedded_generator(device="cpu")
    size = g.resolution
    data = torch.load(args.cache, weights_only=True)
    st, layers = MATCH_METHODS["default"]
    whole = replace(st, part_search=False)

    def at(rf, tf, c, settings):
        m = match_taps(rf, tf, disc_mask(size, float(c[0]), float(c[1]), 0.06 * size), layers, size, settings)
        return np.array(m.to_pixels(size)[0])

    for kind in ("aligned", "warped"):
        rows = []       # (pair, d_x %, residual x %, err before %, nose truth, nose pred)
        for i, ((rf, rc), (tf, tc)) in enumerate(zip(data["ref"], data[kind])):
            c = {k: v.numpy()[0] for k, v in rc.items() if k != "landmarks"}
            t = {k: v.numpy()[0] for k, v in tc.items() if k != "landmarks"}
            if any(np.isnan(v).any() for v in list(c.values()) + list(t.values())):
                continue
            d = np.mean([at(rf, tf, c[e], st) - at(rf, tf, c[e], whole) for e in ("eye_a", "eye_b")], 0)
            nose = at(rf, tf, c["nose"], st)
            rows.append((i, *(100 * d / size), *(100 * (t["nose"] - nose) / size)))
        a = np.array(rows)
        fit, test = a[a[:, 0] >= args.fit_from], a[a[:, 0] < args.fit_from]
        print(f"\n## {kind}: fitted on {len(fit)} pairs (>= {args.fit_from}), evaluated on {len(test)} (< {args.fit_from})")
        k = {}
        for name, cols in (("x", (1, 3)), ("y", (2, 4))):
            dx, rx = fit[:, cols[0]], fit[:, cols[1]]
            k[name] = float((dx * rx).sum() / max((dx * dx).sum(), 1e-9))
            r = np.corrcoef(test[:, cols[0]], test[:, cols[1]])[0, 1]
            print(f"{name}: k = {k[name]:.3f} (fit); on the evaluated pairs corr(d, residual) = {r:.3f}, "
                  f"mean |residual| {np.abs(test[:, cols[1]]).mean():.2f} % -> "
                  f"{np.abs(test[:, cols[1]] - k[name] * test[:, cols[0]]).mean():.2f} % after subtracting k d")
        before = np.hypot(test[:, 3], test[:, 4])
        after = np.hypot(test[:, 3] - k["x"] * test[:, 1], test[:, 4] - k["y"] * test[:, 2])
        print(f"nose error on the evaluated pairs: {before.mean():.2f} % ({100 * (before <= 3).mean():.0f} % "
              f"within 3 %) -> {after.mean():.2f} % ({100 * (after <= 3).mean():.0f} % within 3 %) with the "
              f"fitted correction")


if __name__ == "__main__":
    main()

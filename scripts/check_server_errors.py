"""Bad inputs through a real ComfyUI server, as a user sees them: one execution_error line each.

    python3 scripts/check_server_errors.py http://127.0.0.1:8188 --gan-models <the server's models/gan_models>

Writes two small files into --gan-models (a tiny random generator of another shape and a truncated
copy of the embedded model), uploads two mask images, then POSTs one prompt per bad input and
prints ``input | error type | message`` (a square mask of another size is resized by design, so the
wrong-size case is a non-square mask) from the server's execution_error (or its validation
error). Last it runs a good prompt to show the server still serves. Exit 1 when a bad input did
not fail, a message is not one line, or the server stopped serving.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import urllib.request

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import ROOT, load_pack  # noqa: E402

pack = load_pack()
from gan_local_edit.headless.server_client import _multipart  # noqa: E402

EMB, CAT = "embedded: faces64", "embedded: faces64_k16"
OTHER, TRUNCATED = "gle_check_other.safetensors", "gle_check_truncated.safetensors"


def write_models(folder: str) -> None:
    import torch
    from gan_local_edit.core import StyleGAN2Config, StyleGAN2Generator
    from gan_local_edit.core.formats.native import save_generator
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(0)
    g = StyleGAN2Generator(StyleGAN2Config(z_dim=16, w_dim=16, resolution=16, channels={4: 16, 8: 12, 16: 8},
                                           mapping_layers=2))
    save_generator(g.eval(), os.path.join(folder, OTHER))
    data = open(os.path.join(ROOT, "models", "embedded", "faces64.safetensors"), "rb").read()
    with open(os.path.join(folder, TRUNCATED), "wb") as f:
        f.write(data[: len(data) // 2])


def upload(base: str, name: str, arr: np.ndarray) -> None:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    body, ctype = _multipart({"overwrite": "true", "type": "input"}, "image", name, buf.getvalue())
    urllib.request.urlopen(urllib.request.Request(base + "/upload/image", data=body,
                                                  headers={"Content-Type": ctype}), timeout=30).read()


def n(cls, **inputs):
    return {"class_type": cls, "inputs": inputs}


def paste_with(mask_name):
    return {"1": n("GLELoadGenerator", model=EMB, device="cpu"),
            "2": n("GLESampleLatents", generator=["1", 0], seed=1, count=1, truncation_psi=0.7),
            "3": n("GLESampleLatents", generator=["1", 0], seed=2, count=1, truncation_psi=0.7),
            "4": n("LoadImageMask", image=mask_name, channel="red"),
            "5": n("GLEDeformableMatch", generator=["1", 0], target=["2", 0], reference=["3", 0],
                   reference_mask=["4", 0], feature_layers="", steps=5),
            "6": n("GLELatentPaste", generator=["1", 0], target=["2", 0], reference=["3", 0], reference_mask=["4", 0],
                   roi=["5", 1], steps=5, lr=0.05, gamma=0.1, layers=6, preview_every=10, feature_layer=""),
            "7": n("SaveImage", images=["6", 0], filename_prefix="gle_check")}


def generate(model=EMB, latents_from=None):
    p = {"1": n("GLELoadGenerator", model=model, device="cpu"),
         "2": n("GLESampleLatents", generator=["1", 0], seed=1, count=1, truncation_psi=0.7),
         "3": n("GLEGenerateImage", generator=["1", 0], latents=["2", 0], noise_mode="const", noise_seed=0),
         "4": n("SaveImage", images=["3", 0], filename_prefix="gle_check")}
    if latents_from:
        p["8"] = n("GLELoadGenerator", model=latents_from, device="cpu")
        p["2"]["inputs"]["generator"] = ["8", 0]
    return p


def cases():
    other_catalog = {"1": n("GLELoadGenerator", model=OTHER, device="cpu"),
                     "2": n("GLELoadGenerator", model=EMB, device="cpu"),
                     "3": n("GLELoadCatalog", catalog=CAT, generator=["2", 0]),
                     "4": n("GLESampleLatents", generator=["1", 0], seed=1, count=1, truncation_psi=0.7),
                     "5": n("GLECatalogMask", generator=["1", 0], catalog=["3", 0], latents=["4", 0], label="eyes",
                            soft=False),
                     "6": n("MaskToImage", mask=["5", 0]),
                     "7": n("SaveImage", images=["6", 0], filename_prefix="gle_check")}
    nan_image = {"1": n("GLELoadGenerator", model=EMB, device="cpu"),
                 "2": n("SolidMask", value=float("nan"), width=64, height=64),
                 "3": n("MaskToImage", mask=["2", 0]),
                 "4": n("GLEInvertImage", generator=["1", 0], image=["3", 0], space="W+", steps=2, seed=0, starts=1,
                        optimize_noise=False, vgg16="none", refine_steps=0),
                 "5": n("SaveImage", images=["4", 1], filename_prefix="gle_check")}
    return [("empty mask (all black) into Deformable Match / Latent Paste", paste_with("gle_check_empty_mask.png")),
            ("mask of the wrong shape (40x64 for a 64x64 model)", paste_with("gle_check_wide_mask.png")),
            ("latents of another generator into Generate Image", generate(latents_from=OTHER)),
            ("catalog of another generator into Catalog Mask", other_catalog),
            ("NaN in an image into Invert Image", nan_image),
            ("truncated checkpoint in gan_models", generate(model=TRUNCATED))]


def run(base: str, prompt: dict, timeout: float = 300.0):
    """-> (status, error type, message) of one prompt."""
    req = urllib.request.Request(base + "/prompt", data=json.dumps({"prompt": prompt}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        pid = json.loads(urllib.request.urlopen(req, timeout=30).read())["prompt_id"]
    except urllib.error.HTTPError as e:
        err = json.loads(e.read() or b"{}")
        details = [x.get("details") or x.get("message") for ne in err.get("node_errors", {}).values()
                   for x in ne.get("errors", [])]
        return "rejected", err.get("error", {}).get("type", ""), "; ".join(details) or err.get("error", {}).get("message")
    t0 = time.time()
    while time.time() - t0 < timeout:
        h = json.loads(urllib.request.urlopen(f"{base}/history/{pid}", timeout=10).read()).get(pid)
        if h and (h["status"].get("completed") or h["status"].get("status_str") == "error"):
            for kind, data in h["status"].get("messages", []):
                if kind == "execution_error":
                    return "error", data.get("exception_type", ""), f"{data.get('node_type')}: {data.get('exception_message', '')}"
            return h["status"].get("status_str", "?"), "", ""
        time.sleep(0.3)
    return "timeout", "", ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("server")
    ap.add_argument("--gan-models", required=True, help="the server's gan_models folder (written to)")
    args = ap.parse_args()
    base = args.server.rstrip("/")
    write_models(args.gan_models)
    upload(base, "gle_check_empty_mask.png", np.zeros((64, 64, 3), np.uint8))
    wide = np.zeros((64, 40, 3), np.uint8)
    wide[20:40, 10:30] = 255
    upload(base, "gle_check_wide_mask.png", wide)
    bad = 0
    print("input | error type | message")
    for label, prompt in cases():
        status, etype, msg = run(base, prompt)
        one_line = status in ("error", "rejected") and msg and "\n" not in msg.strip()
        bad += not one_line
        print(f"{label} | {status} {etype} | {msg.strip() if msg else '(no error)'}{'' if one_line else '  <-- NOT OK'}")
    status, _, msg = run(base, generate())
    stats = json.loads(urllib.request.urlopen(base + "/system_stats", timeout=10).read())
    serving = status == "success" and "system" in stats
    print(f"afterwards: a good prompt -> {status}; /system_stats answers: {'system' in stats}")
    print("all bad inputs gave one clear line and the server still serves" if not bad and serving
          else f"NOT OK: {bad} bad input(s) without a one-line error; serving={serving}")
    sys.exit(0 if not bad and serving else 1)


if __name__ == "__main__":
    main()

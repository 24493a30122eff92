"""Command line: run workflows headless, convert checkpoints, inspect files.

    python . run workflows/generate.json --out output            # in-process, no ComfyUI needed
    python . run workflows/generate.json --server http://127.0.0.1:8188 --out output
    python . run workflows/generate.json --server URL1 --server URL2 --sweep 2.seed=0..199   # fan-out
    python . convert model.pkl model.safetensors [--dtype float16]
    python . info model.pkl
    python . ui-to-api example_workflows/generate.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

PACK_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _registry():
    from .. import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
    from .executor import node_registry
    return node_registry(NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS)


def cmd_run(args) -> int:
    from .executor import load_prompt, run_prompt, WorkflowError
    prompt = load_prompt(args.workflow)
    input_dir = args.input_dir or os.path.join(os.path.dirname(os.path.abspath(args.workflow)), "input")
    if args.sweep and not args.server:
        print("error: --sweep needs --server (the runs go to running ComfyUI servers)", file=sys.stderr)
        return 2
    if args.server and (args.sweep or args.set or len(args.server) > 1):
        from .fanout import run_fanout
        return run_fanout(args.workflow, prompt, args.server, args.sweep or [], args.set or [], args.out,
                          input_dir, per_server=args.per_server, timeout=args.timeout)
    if args.set:
        from .fanout import SweepError, variations
        try:
            prompt = variations(prompt, [], args.set)[0][1]
        except SweepError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    if args.server:
        from .server_client import ServerError, submit_and_fetch
        try:
            paths = submit_and_fetch(args.server[0], prompt, args.out, timeout=args.timeout, input_dir=input_dir)
        except ServerError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        for p in paths:
            print(p)
        return 0
    if args.models:
        os.environ["GLE_GAN_MODELS"] = os.pathsep.join(args.models)
    if args.catalogs:
        os.environ["GLE_GAN_CATALOGS"] = args.catalogs
    os.environ.setdefault("GLE_GAN_CATALOGS", os.path.join(args.out, "gan_catalogs"))
    os.environ.setdefault("GLE_GAN_DIRECTIONS", os.path.join(args.out, "gan_directions"))
    from ..nodes import comfy_bridge
    comfy_bridge.progress_hook = _print_progress
    classes, _ = _registry()
    t0 = time.time()
    try:
        ui = run_prompt(prompt, classes, args.out, input_dir=input_dir, log=print)
    except WorkflowError as e:
        print(f"\nerror: {e}", file=sys.stderr)
        return 1
    for node_id, out in ui.items():
        for img in out.get("images", []):
            print(os.path.join(args.out, img.get("subfolder", ""), img["filename"])
                  if img.get("type") == "output" else os.path.join(args.out, "preview", img["filename"]))
        for text in out.get("text", []):
            print(text)
    print(f"done in {time.time() - t0:.1f} s", file=sys.stderr)
    return 0


def _print_progress(node_id, done, total):
    print(f"\r  [{node_id}] {done}/{total}", end="\n" if done >= total else "", file=sys.stderr, flush=True)


def cmd_convert(args) -> int:
    from ..core import GLEError, convert_checkpoint
    try:
        path = convert_checkpoint(args.src, args.dst, dtype=args.dtype)
    except GLEError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(path)
    return 0


def cmd_info(args) -> int:
    from ..core import GLEError, load_generator
    try:
        g = load_generator(args.path, device="cpu")
    except GLEError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(g.describe())
    print(f"format: {getattr(g, 'source_format', '?')}   fingerprint: {g.fingerprint()}")
    for layer in g.layers():
        w = f"w[{layer.w_index}]" if layer.w_index >= 0 else ""
        print(f"  {layer.name:14s} {layer.kind:6s} {layer.resolution:5d}px  "
              f"{layer.in_channels:4d}->{layer.out_channels:<4d} {w}")
    return 0


def cmd_ui_to_api(args) -> int:
    from .ui_format import ui_to_api
    classes, titles = _registry()
    with open(args.workflow, encoding="utf-8") as f:
        api = ui_to_api(json.load(f), classes, titles)
    text = json.dumps(api, indent=2)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python .", description="GAN Local Edit command line")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run an API-format workflow")
    r.add_argument("workflow")
    r.add_argument("--out", default="output", help="folder for the images (default: output)")
    r.add_argument("--input-dir", help="folder LoadImage reads from (default: <workflow folder>/input)")
    r.add_argument("--models", action="append", help="extra gan_models folder (repeatable)")
    r.add_argument("--catalogs", help="gan_catalogs folder for Save/Load Catalog (default: <out>/gan_catalogs)")
    r.add_argument("--server", action="append",
                   help="submit to a running ComfyUI, e.g. http://127.0.0.1:8188 (repeat to fan out)")
    r.add_argument("--sweep", action="append", metavar="NODE.INPUT=A..B",
                   help="run every value: integers A..B inclusive or a comma list (repeat for a grid)")
    r.add_argument("--set", action="append", metavar="NODE.INPUT=VALUE", help="override one widget value")
    r.add_argument("--per-server", type=int, default=2, help="prompts in flight per server (fan-out)")
    r.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the server")
    r.set_defaults(func=cmd_run)
    c = sub.add_parser("convert", help="convert a checkpoint to the pack's safetensors format")
    c.add_argument("src")
    c.add_argument("dst")
    c.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    c.set_defaults(func=cmd_convert)
    i = sub.add_parser("info", help="describe a checkpoint")
    i.add_argument("path")
    i.set_defaults(func=cmd_info)
    u = sub.add_parser("ui-to-api", help="convert a UI-format workflow to the API format")
    u.add_argument("workflow")
    u.add_argument("-o", "--output")
    u.set_defaults(func=cmd_ui_to_api)
    args = p.parse_args(argv)
    return args.func(args)

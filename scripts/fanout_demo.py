"""Fan-out against real ComfyUI servers of the rig: a seed sweep over 2 servers, one killed mid-run.

Needs the rig built under /tmp/gle-comfy (../shared/tools/comfyui-rig/setup.sh). Each server is a
fresh ComfyUI on CPU with this pack as a custom node, its own base folder and one torch thread
(OMP_NUM_THREADS=1), so that two servers use two cores and one server uses one.

    python3 scripts/fanout_demo.py [--runs 200] [--kill-after 50] [--bench-runs 200]

1. ``--runs`` runs of workflows/generate.json, seeds 0..runs-1, across 2 servers; the second server is
   killed (SIGKILL) once ``--kill-after`` results are written; checks every seed's images are present
   exactly once and that no two seeds share an image.
2. Throughput: ``--bench-runs`` runs on 1 server, then the same number on 2 servers (the killed one
   restarted), each with seeds not used before (ComfyUI would serve repeated prompts from its cache).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from _pack import load_pack  # noqa: E402  (imports the repository as the package)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Comfy:
    """One ComfyUI server of the rig, started with the pack as a custom node."""

    def __init__(self, rig: str, work: str, name: str):
        self.rig, self.dir = rig, os.path.join(work, name)
        os.makedirs(os.path.join(self.dir, "custom"), exist_ok=True)
        for sub in ("custom_nodes", "models", "input", "output"):
            os.makedirs(os.path.join(self.dir, "base", sub), exist_ok=True)
        os.symlink(ROOT, os.path.join(self.dir, "custom", "gan_local_edit"))
        with open(os.path.join(self.dir, "extra.yaml"), "w") as f:
            f.write(f"pack:\n    base_path: {self.dir}\n    custom_nodes: custom\n")
        self.proc = None

    def start(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, PYTHONPATH=os.path.join(self.rig, "stubs"), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.log = open(os.path.join(self.dir, f"server_{self.port}.log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(self.rig, "venv", "bin", "python"), "main.py", "--cpu", "--listen", "127.0.0.1",
             "--port", str(self.port), "--disable-auto-launch", "--dont-print-server",
             "--base-directory", os.path.join(self.dir, "base"),
             "--extra-model-paths-config", os.path.join(self.dir, "extra.yaml"),
             "--database-url", "sqlite:///:memory:"],
            cwd=os.path.join(self.rig, "src"), env=env, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, limit=180.0):
        t0 = time.time()
        while time.time() - t0 < limit:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited; see {self.log.name}")
            try:
                with urllib.request.urlopen(self.url + "/object_info/GLELoadGenerator", timeout=2) as r:
                    if json.loads(r.read()):
                        return time.time() - t0
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"server did not start within {limit:.0f} s; see {self.log.name}")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


def run(fo, prompt, servers, seeds, out, kill=None, kill_after=None):
    jobs = fo.variations(prompt, [f"2.seed={seeds[0]}..{seeds[-1]}"], [])
    fan = fo.FanOut([s.url for s in servers], jobs, out, "generate", per_server=2, poll=0.05,
                    timeout=300, stream=sys.stderr)
    killed_at = []
    if kill is not None:
        def watch():
            while not fan.finished.is_set():
                if len(fan.written) >= kill_after:
                    killed_at.append(len(fan.written))
                    kill.kill()
                    return
                time.sleep(0.02)
        threading.Thread(target=watch, daemon=True).start()
    t0 = time.time()
    failed = fan.run()
    seconds = time.time() - t0
    return fan, failed, seconds, killed_at


def check_once(out, seeds, count):
    """Every seed has exactly ``count`` images, nothing else is there, and no two seeds share an image."""
    names = os.listdir(out)
    by_seed = {}
    for n in names:
        m = re.fullmatch(r"generate_2\.seed=(\d+)_(\d+)\.png", n)
        assert m, f"unexpected file {n}"
        by_seed.setdefault(int(m.group(1)), []).append(int(m.group(2)))
    missing = [s for s in seeds if s not in by_seed]
    wrong = {s: sorted(v) for s, v in by_seed.items() if sorted(v) != list(range(count))}
    digests = {}
    for n in names:
        with open(os.path.join(out, n), "rb") as f:
            digests.setdefault(hashlib.sha256(f.read()).hexdigest(), []).append(n)
    shared = [v for v in digests.values() if len({re.search(r"seed=(\d+)", x).group(1) for x in v}) > 1]
    return len(names), len(by_seed), missing, wrong, shared


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rig", default="/tmp/gle-comfy")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--kill-after", type=int, default=50)
    ap.add_argument("--bench-runs", type=int, default=200)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    load_pack()
    import importlib
    fo = importlib.import_module("gan_local_edit.headless.fanout")
    with open(os.path.join(ROOT, "workflows", "generate.json")) as f:
        prompt = json.load(f)
    count = prompt["2"]["inputs"]["count"]
    work = tempfile.mkdtemp(prefix="gle_fanout_")
    a, b = Comfy(args.rig, work, "a"), Comfy(args.rig, work, "b")
    lines = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    try:
        for s in (a, b):
            s.start()
        ta, tb = a.wait_ready(), b.wait_ready()
        say(f"2 ComfyUI servers of the rig ({args.rig}), CPU, OMP_NUM_THREADS=1 each, started in "
            f"{ta:.0f} s / {tb:.0f} s; workflow workflows/generate.json ({count} images per run, "
            f"per-server in-flight 2)")
        # warm-up: one run per server loads the generator, so no phase pays that
        fan, failed, sec, _ = run(fo, prompt, [a, b], [900000, 900001], os.path.join(work, "warm"))
        say(f"warm-up: 2 runs, failed {len(failed)}")

        seeds = list(range(args.runs))
        out = os.path.join(work, "kill")
        fan, failed, sec, killed_at = run(fo, prompt, [a, b], seeds, out, kill=b, kill_after=args.kill_after)
        say("")
        say(f"== {args.runs} runs (seeds 0..{args.runs - 1}) across 2 servers, server b SIGKILLed "
            f"when {killed_at[0] if killed_at else '?'} results were written ==")
        say(fan.summary(sec))
        n_files, n_seeds, missing, wrong, shared = check_once(out, seeds, count)
        say(f"check: {n_files} files, {n_seeds} seeds with images (expected {len(seeds)} seeds x {count}); "
            f"missing seeds: {missing or 'none'}; seeds with a wrong image set: {wrong or 'none'}; "
            f"identical images under two seeds: {len(shared)}")
        ok = not failed and not missing and not wrong and not shared and n_files == len(seeds) * count
        say(f"all {args.runs} present exactly once: {'YES' if ok else 'NO'}")

        say("")
        say(f"== throughput: {args.bench_runs} runs each, fresh seeds per phase ==")
        base = 10000
        s1 = list(range(base, base + args.bench_runs))
        fan1, f1, sec1, _ = run(fo, prompt, [a], s1, os.path.join(work, "one"))
        say(f"1 server : {len(fan1.written)}/{args.bench_runs} in {sec1:.1f} s = "
            f"{len(fan1.written) / sec1:.2f} runs/s (failed {len(f1)})")
        b.log.close()
        b.start()
        b.wait_ready()
        run(fo, prompt, [b], [900002], os.path.join(work, "warm2"))
        s2 = list(range(2 * base, 2 * base + args.bench_runs))
        fan2, f2, sec2, _ = run(fo, prompt, [a, b], s2, os.path.join(work, "two"))
        say(f"2 servers: {len(fan2.written)}/{args.bench_runs} in {sec2:.1f} s = "
            f"{len(fan2.written) / sec2:.2f} runs/s (failed {len(f2)}; "
            + ", ".join(f"{s.base}: {s.done}" for s in fan2.servers) + ")")
        say(f"speed-up 2 vs 1 server: {(len(fan2.written) / sec2) / (len(fan1.written) / sec1):.2f}x "
            f"(machine: {os.cpu_count()} CPU cores, shared with other jobs while measured)")
    finally:
        for s in (a, b):
            s.kill()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(ROOT, "docs", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "docs", "results", "fanout_demo.txt"), "w") as f:
        f.write(f"$ python3 scripts/fanout_demo.py --runs {args.runs} --kill-after {args.kill_after} "
                f"--bench-runs {args.bench_runs}\n" + "\n".join(lines) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

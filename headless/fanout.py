"""Fan a parameter sweep out over several running ComfyUI servers (standard library only).

ComfyUI's own queue is the engine: each server gets at most ``per_server`` prompts in flight, a run
whose server stops answering goes back to the shared queue for a live server, and every variation's
images are written once, named after the variation (``<workflow>_<node>.<input>=<value>_<i>.png``).
"""
from __future__ import annotations

import copy
import itertools
import json
import os
import queue
import sys
import threading
import time

from . import server_client as sc


class SweepError(ValueError):
    pass


def _value(text: str):
    """A command-line value as JSON when it reads as JSON (numbers, true/false), else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _target(spec: str, prompt: dict, flag: str) -> tuple[str, str, str]:
    key, eq, rhs = spec.partition("=")
    node, dot, name = key.partition(".")
    if not eq or not dot or not node or not name or rhs == "":
        raise SweepError(f"{flag} {spec!r}: expected node.input=value (e.g. {flag} 2.seed=0..9)")
    if node not in prompt:
        raise SweepError(f"{flag} {spec!r}: the workflow has no node {node!r} (nodes: {', '.join(prompt)})")
    inputs = prompt[node].get("inputs", {})
    if name not in inputs:
        raise SweepError(f"{flag} {spec!r}: node {node} ({prompt[node].get('class_type')}) has no input "
                         f"{name!r} (inputs: {', '.join(inputs)})")
    if isinstance(inputs[name], list):
        raise SweepError(f"{flag} {spec!r}: input {name!r} of node {node} is a link, not a widget value")
    return node, name, rhs


def parse_sweep(spec: str, prompt: dict) -> tuple[str, str, list]:
    """``node.input=a..b`` (integers, inclusive) or ``node.input=v1,v2,...``."""
    node, name, rhs = _target(spec, prompt, "--sweep")
    if ".." in rhs:
        lo, _, hi = rhs.partition("..")
        try:
            a, b = int(lo), int(hi)
        except ValueError:
            raise SweepError(f"--sweep {spec!r}: a range is two integers a..b, got {rhs!r}") from None
        if b < a:
            raise SweepError(f"--sweep {spec!r}: empty range {a}..{b} (the end is below the start)")
        return node, name, list(range(a, b + 1))
    values = [_value(v.strip()) for v in rhs.split(",")]
    if any(v == "" for v in values):
        raise SweepError(f"--sweep {spec!r}: empty value in the list {rhs!r}")
    return node, name, values


def variations(prompt: dict, sweeps: list[str], sets: list[str]) -> list[tuple[str, dict]]:
    """(label, prompt) for every combination of the sweeps, with the --set values applied to all."""
    base = copy.deepcopy(prompt)
    for spec in sets:
        node, name, rhs = _target(spec, base, "--set")
        base[node]["inputs"][name] = _value(rhs)
    axes = [parse_sweep(s, base) for s in sweeps]
    out = []
    for combo in itertools.product(*[[(n, k, v) for v in vals] for n, k, vals in axes]):
        p = copy.deepcopy(base)
        for node, name, value in combo:
            p[node]["inputs"][name] = value
        out.append(("_".join(f"{n}.{k}={v}" for n, k, v in combo) or "run", p))
    labels = [label for label, _ in out]
    if len(set(labels)) != len(labels):
        raise SweepError("the sweep repeats a value; each variation must be distinct")
    return out


class _Server:
    def __init__(self, url: str):
        self.base = url.rstrip("/")
        self.alive = True
        self.done = 0
        self.uploaded = False
        self.lock = threading.Lock()


class FanOut:
    """Runs the variations; ``run()`` returns the failures as {label: reason}."""

    def __init__(self, servers, jobs, out_dir, stem, per_server=2, timeout=600.0, poll=0.2,
                 input_dir=None, stream=sys.stderr, max_tries=None):
        self.servers = [_Server(u) for u in servers]
        self.jobs = jobs
        self.out_dir, self.stem = out_dir, stem
        self.per_server, self.timeout, self.poll = per_server, timeout, poll
        self.input_dir, self.stream = input_dir, stream
        self.max_tries = max_tries or len(self.servers) + 1
        self.pending: queue.Queue = queue.Queue()
        self.written: dict[str, list[str]] = {}
        self.failed: dict[str, str] = {}
        self.resubmitted = 0
        self.lock = threading.Lock()
        self.finished = threading.Event()

    # --- bookkeeping -------------------------------------------------------------------------
    def _settled(self) -> int:
        return len(self.written) + len(self.failed)

    def _settle(self, label, paths=None, reason=None):
        with self.lock:
            if label in self.written or label in self.failed:
                return
            if reason is None:
                self.written[label] = paths
            else:
                self.failed[label] = reason
            if self._settled() == len(self.jobs):
                self.finished.set()
        self._progress()

    def _progress(self, final=False):
        n, total = self._settled(), len(self.jobs)
        live = sum(s.alive for s in self.servers)
        width = 30
        bar = "#" * (width * n // max(total, 1))
        self.stream.write(f"\r[{bar:<{width}}] {n}/{total} runs finished, {len(self.failed)} failed, "
                          f"{live}/{len(self.servers)} servers live" + ("\n" if final else ""))
        self.stream.flush()

    # --- work --------------------------------------------------------------------------------
    def _upload_once(self, server: _Server):
        with server.lock:
            if server.uploaded:
                return
            loaders = {f"{i}:{nid}": node for i, (_, p) in enumerate(self.jobs) for nid, node in p.items()
                       if node.get("class_type") in sc.IMAGE_LOADERS}
            sc.upload_inputs(server.base, loaders, self.input_dir, log=lambda *_: None)
            server.uploaded = True

    def _run_one(self, server: _Server, label: str, prompt: dict) -> list[str]:
        self._upload_once(server)
        prompt_id = sc.queue_prompt(server.base, prompt)
        entry = sc.wait_for(server.base, prompt_id, self.timeout, self.poll)
        blobs = [sc.fetch_image(server.base, img) for img in sc.output_images(entry)]
        paths = []
        with self.lock:  # write under the lock: a variation's files are written exactly once
            if label in self.written:
                return self.written[label]
            for i, data in enumerate(blobs):
                path = os.path.join(self.out_dir, f"{self.stem}_{label}_{i}.png")
                tmp = path + ".part"
                with open(tmp, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
                paths.append(path)
        return paths

    def _worker(self, server: _Server):
        while server.alive and not self.finished.is_set():
            try:
                index, tries = self.pending.get(timeout=0.05)
            except queue.Empty:
                continue
            if not server.alive:  # a sibling slot found the server dead while this one waited
                self.pending.put((index, tries))
                return
            label, prompt = self.jobs[index]
            try:
                paths = self._run_one(server, label, prompt)
            except sc.ServerUnreachable as e:
                server.alive = False
                if tries + 1 >= self.max_tries:
                    self._settle(label, reason=f"gave up after {tries + 1} servers stopped answering: {e}")
                else:
                    with self.lock:
                        self.resubmitted += 1
                    self.pending.put((index, tries + 1))
                self._progress()
                self._check_all_dead()
                return
            except sc.ServerError as e:  # the server answered: the prompt itself is bad
                self._settle(label, reason=str(e))
                continue
            server.done += 1
            self._settle(label, paths)

    def _check_all_dead(self):
        if any(s.alive for s in self.servers):
            return
        while True:
            try:
                index, _ = self.pending.get_nowait()
            except queue.Empty:
                break
            self._settle(self.jobs[index][0], reason="no server left that answers")
        with self.lock:
            if self._settled() == len(self.jobs):
                self.finished.set()

    def run(self) -> dict[str, str]:
        os.makedirs(self.out_dir, exist_ok=True)
        for i in range(len(self.jobs)):
            self.pending.put((i, 0))
        threads = [threading.Thread(target=self._worker, args=(s,), daemon=True)
                   for s in self.servers for _ in range(self.per_server)]
        self._progress()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self._check_all_dead()
        self._progress(final=True)
        return dict(self.failed)

    def summary(self, seconds: float) -> str:
        lines = [f"fan-out: {len(self.written)}/{len(self.jobs)} variations written to {self.out_dir} "
                 f"in {seconds:.1f} s ({len(self.written) / max(seconds, 1e-9):.2f} runs/s); "
                 f"{self.resubmitted} resubmitted"]
        for s in self.servers:
            lines.append(f"  {s.base}: {s.done} runs{'' if s.alive else ' (stopped answering)'}")
        if self.failed:
            lines.append(f"{len(self.failed)} failed:")
            lines += [f"  {label}: {reason}" for label, reason in sorted(self.failed.items())]
        return "\n".join(lines)


def run_fanout(workflow: str, prompt: dict, servers: list[str], sweeps: list[str], sets: list[str],
               out_dir: str, input_dir: str | None, per_server: int = 2, timeout: float = 600.0,
               poll: float = 0.2, stream=sys.stderr) -> int:
    """The CLI's entry point: exit status 0 when every variation was written, 1 otherwise."""
    try:
        jobs = variations(prompt, sweeps, sets)
    except SweepError as e:
        print(f"error: {e}", file=stream)
        return 2
    stem = os.path.splitext(os.path.basename(workflow))[0]
    fan = FanOut(servers, jobs, out_dir, stem, per_server=per_server, timeout=timeout, poll=poll,
                 input_dir=input_dir, stream=stream)
    t0 = time.time()
    failed = fan.run()
    print(fan.summary(time.time() - t0), file=stream)
    return 1 if failed else 0

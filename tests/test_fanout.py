"""Fan-out over several ComfyUI servers, against stand-in servers on the loopback (one dies mid-run)."""
import io
import json
import os
import re
import struct
import subprocess
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from helpers import ROOT, StubComfyHandler
from gan_local_edit.headless.fanout import SweepError, parse_sweep, run_fanout, variations

WORKFLOW = os.path.join(ROOT, "workflows", "generate.json")


def tiny_png(text: str) -> bytes:
    """A valid 1x1 PNG carrying ``text`` in a tEXt chunk, so a test can tell which run made it."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + chunk(b"tEXt", b"run\x00" + text.encode()) + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
            + chunk(b"IEND", b""))


def png_text(data: bytes) -> str:
    i = data.index(b"tEXtrun\x00") + 8
    n = struct.unpack(">I", data[i - 12:i - 8])[0]
    return data[i:i - 4 + n].decode()


class StandIn:
    """A loopback server speaking ComfyUI's /prompt, /history/<id>, /view, /upload/image subset.

    A prompt is finished after two polls of its history. ``die_after`` prompts accepted, the server
    stops listening (later connections are refused), with those prompts still unfinished."""

    def __init__(self, die_after=None):
        self.die_after = die_after
        self.prompts = {}   # prompt id -> seed
        self.polls = {}
        self.uploads = 0
        self.stopping = False    # set with the last accepted prompt: nothing is answered after it
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01},
                                       daemon=True)
        self.thread.start()
        self.dead = False

    def die(self):
        if not self.dead:
            self.dead = True
            self.httpd.shutdown()
            self.httpd.server_close()

    def _handler(self):
        srv = self

        class H(StubComfyHandler, BaseHTTPRequestHandler):
            def _gone(self):
                """True (and the connection closed unanswered) once the server is dying: the
                shutdown takes a poll interval, and a request accepted meanwhile must not be served."""
                with srv.lock:
                    gone = srv.stopping
                if gone:
                    self.close_connection = True
                return gone

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                if self._gone():
                    return
                if self.path == "/upload/image":
                    with srv.lock:
                        srv.uploads += 1
                    return self._send(200, {"name": "x", "subfolder": "", "type": "input"})
                prompt = json.loads(raw)["prompt"]
                if prompt["2"]["inputs"]["seed"] == -1:
                    return self._send(400, {"error": {"message": "Prompt outputs failed validation"},
                                            "node_errors": {}})
                with srv.lock:
                    if srv.stopping:
                        self.close_connection = True
                        return
                    pid = f"p{len(srv.prompts)}"
                    srv.prompts[pid] = prompt["2"]["inputs"]["seed"]
                    dying = srv.die_after is not None and len(srv.prompts) >= srv.die_after
                    srv.stopping = dying
                self._send(200, {"prompt_id": pid, "number": 0, "node_errors": {}})
                if dying:
                    threading.Thread(target=srv.die, daemon=True).start()

            def do_GET(self):
                if self._gone():
                    return
                url = urlparse(self.path)
                if url.path.startswith("/history/"):
                    pid = url.path.rsplit("/", 1)[1]
                    with srv.lock:
                        srv.polls[pid] = srv.polls.get(pid, 0) + 1
                        ready = srv.polls[pid] >= 2
                    if not ready:
                        return self._send(200, {})
                    img = {"filename": f"gle_generate_{pid}.png", "subfolder": "", "type": "output"}
                    return self._send(200, {pid: {"status": {"status_str": "success", "completed": True},
                                                  "outputs": {"4": {"images": [img]}}}})
                if url.path == "/view":
                    pid = parse_qs(url.query)["filename"][0][len("gle_generate_"):-4]
                    return self._send(200, tiny_png(f"seed={srv.prompts[pid]}"), "image/png")
                self._send(404, {})

        return H


@pytest.fixture
def prompt():
    with open(WORKFLOW) as f:
        return json.load(f)


def results(out):
    names = sorted(os.listdir(out))
    assert not [n for n in names if not n.endswith(".png")], names   # no partial files left
    return names


def test_one_server_dies_mid_run_every_variation_once(prompt, tmp_path):
    a, b = StandIn(die_after=5), StandIn()
    prompt["9"] = {"class_type": "LoadImage", "inputs": {"image": "face.png"}}   # an unused input to upload
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "face.png").write_bytes(tiny_png("face"))
    out = tmp_path / "out"
    log = io.StringIO()
    rc = run_fanout(WORKFLOW, prompt, [a.url, b.url], ["2.seed=0..39"], ["2.count=1"], str(out),
                    str(tmp_path / "in"), per_server=2, poll=0.005, stream=log)
    b.die()
    assert rc == 0, log.getvalue()
    names = results(out)
    assert names == sorted(f"generate_2.seed={s}_0.png" for s in range(40))
    for n in names:   # each file holds the run of its own variation
        seed = re.search(r"seed=(\d+)_", n).group(1)
        assert png_text((out / n).read_bytes()) == f"seed={seed}"
    assert a.dead and len(a.prompts) == 5
    text = log.getvalue()
    assert "40/40 runs finished, 0 failed, 1/2 servers live" in text
    resub = int(re.search(r"(\d+) resubmitted", text).group(1))
    assert resub >= 1            # the prompts in flight on the dying server went to the other one
    assert f"{a.url}: " in text and "(stopped answering)" in text
    a_done = int(re.search(re.escape(a.url) + r": (\d+) runs \(stopped answering\)", text).group(1))
    assert a_done < 5 and f"{b.url}: {40 - a_done} runs" in text
    assert len(b.prompts) == 40 - a_done    # the runs finished on the dead server are not rerun
    assert a.uploads == 1 and b.uploads == 1   # the loader's input went once to each server


def test_all_servers_die_failures_are_reported(prompt, tmp_path):
    a, b = StandIn(die_after=2), StandIn(die_after=3)
    log = io.StringIO()
    rc = run_fanout(WORKFLOW, prompt, [a.url, b.url], ["2.seed=0..19"], [], str(tmp_path), None,
                    per_server=2, poll=0.005, stream=log)
    assert rc == 1
    text = log.getvalue()
    m = re.search(r"fan-out: (\d+)/20 variations written", text)
    written = int(m.group(1))
    assert written == len(results(tmp_path)) < 20
    failed = int(re.search(r"\n(\d+) failed:", text).group(1))
    assert written + failed == 20
    assert "no server left that answers" in text and "0/2 servers live" in text


def test_a_prompt_the_server_rejects_fails_without_killing_the_server(prompt, tmp_path):
    a = StandIn()
    log = io.StringIO()
    rc = run_fanout(WORKFLOW, prompt, [a.url], ["2.seed=-1,1,2"], [], str(tmp_path), None,
                    per_server=2, poll=0.005, stream=log)
    a.die()
    assert rc == 1
    assert results(tmp_path) == ["generate_2.seed=1_0.png", "generate_2.seed=2_0.png"]
    assert re.search(r"1 failed:\n  2\.seed=-1: .*400.*failed validation", log.getvalue())
    assert "1/1 servers live" in log.getvalue()


def test_sweep_parsing(prompt):
    assert parse_sweep("2.seed=3..5", prompt) == ("2", "seed", [3, 4, 5])
    assert parse_sweep("2.truncation_psi=0.5,0.7", prompt) == ("2", "truncation_psi", [0.5, 0.7])
    assert parse_sweep("3.noise_mode=const,random", prompt)[2] == ["const", "random"]
    grid = variations(prompt, ["2.seed=0..1", "2.truncation_psi=0.5,1"], ["2.count=1"])
    assert [label for label, _ in grid] == ["2.seed=0_2.truncation_psi=0.5", "2.seed=0_2.truncation_psi=1",
                                            "2.seed=1_2.truncation_psi=0.5", "2.seed=1_2.truncation_psi=1"]
    assert grid[3][1]["2"]["inputs"] == {**prompt["2"]["inputs"], "seed": 1, "truncation_psi": 1, "count": 1}
    assert prompt["2"]["inputs"]["seed"] == 42     # the workflow itself is untouched


@pytest.mark.parametrize("spec, words", [
    ("2.seed", "expected node.input=value"),
    ("seed=1..3", "expected node.input=value"),
    ("7.seed=1..3", "no node '7'"),
    ("2.sed=1..3", "has no input 'sed'"),
    ("2.generator=1..3", "is a link"),
    ("2.seed=5..1", "empty range 5..1"),
    ("2.seed=a..b", "two integers"),
    ("2.seed=1,,2", "empty value"),
    ("2.seed=1,1", "repeats a value"),
])
def test_sweep_errors_are_clear(prompt, spec, words):
    with pytest.raises(SweepError, match=re.escape(words)):
        variations(prompt, [spec], [])


def test_cli_sweep_error_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, ".", "run", "workflows/generate.json", "--server", "http://127.0.0.1:9",
                        "--sweep", "2.seed=9..1", "--out", str(tmp_path)], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("error: --sweep '2.seed=9..1': empty range")
    assert "Traceback" not in r.stderr

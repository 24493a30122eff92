"""The command line: run (in-process and against a server), convert, info, ui-to-api."""
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from helpers import ROOT, StubComfyHandler, fixture_path


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, ".", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_run_generate_workflow_writes_pngs(tmp_path):
    r = cli("run", "workflows/generate.json", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    pngs = sorted(p for p in os.listdir(tmp_path) if p.endswith(".png"))
    assert pngs == [f"gle_generate_{i:05}_.png" for i in range(1, 9)]


def test_python_dash_m_from_parent_folder(tmp_path):
    folder = os.path.basename(ROOT)
    r = subprocess.run([sys.executable, "-m", folder, "info", fixture_path("rosinality_tiny32.pt")],
                       cwd=os.path.dirname(ROOT), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "32x32" in r.stdout and "b32.torgb" in r.stdout


def test_convert_and_info(tmp_path):
    dst = tmp_path / "x.safetensors"
    r = cli("convert", fixture_path("nvidia_tf_tiny32.pkl"), str(dst), "--dtype", "float16")
    assert r.returncode == 0, r.stderr
    r = cli("info", str(dst))
    assert r.returncode == 0 and "num_ws 8" in r.stdout


def test_errors_are_one_line_not_tracebacks(tmp_path):
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"\x80\x04garbage")
    r = cli("info", str(bad))
    assert r.returncode == 1
    assert r.stderr.startswith("error: cannot load 'bad.pkl'") and "Traceback" not in r.stderr
    r = cli("run", "example_workflows/generate.json", "--out", str(tmp_path))
    assert r.returncode != 0 and "UI-format" in r.stderr


def test_ui_to_api_matches_api_file():
    r = cli("ui-to-api", "example_workflows/generate.json")
    assert r.returncode == 0, r.stderr
    with open(os.path.join(ROOT, "workflows", "generate.json")) as f:
        assert json.loads(r.stdout) == json.load(f)


class FakeComfy(StubComfyHandler, BaseHTTPRequestHandler):
    """Just enough of ComfyUI's HTTP API: /prompt, /history/<id>, /view."""
    received = {}
    polls = 0
    uploads = []

    def do_POST(self):
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/upload/image":
            assert self.headers["Content-Type"].startswith("multipart/form-data; boundary=")
            FakeComfy.uploads.append(raw)
            return self._send(200, {"name": "x", "subfolder": "", "type": "input"})
        body = json.loads(raw)
        FakeComfy.received = body
        if "9" in body["prompt"]:
            return self._send(400, {"error": {"message": "Prompt outputs failed validation", "details": ""},
                                    "node_errors": {"9": {"class_type": "X", "errors": [
                                        {"message": "Value not in list", "details": "model: 'a' not in []"}]}}})
        self._send(200, {"prompt_id": "abc", "number": 0, "node_errors": {}})

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/history/abc":
            FakeComfy.polls += 1
            if FakeComfy.polls < 3:
                return self._send(200, {})
            return self._send(200, {"abc": {"status": {"status_str": "success", "completed": True},
                                            "outputs": {"4": {"images": [{"filename": "g_00001_.png",
                                                                          "subfolder": "", "type": "output"}]}}}})
        if url.path == "/view":
            q = parse_qs(url.query)
            assert q["filename"] == ["g_00001_.png"] and q["type"] == ["output"]
            return self._send(200, b"\x89PNG fake", "image/png")
        self._send(404, {})


@pytest.fixture
def fake_server():
    server = HTTPServer(("127.0.0.1", 0), FakeComfy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_server_mode_posts_polls_and_downloads(fake_server, tmp_path):
    FakeComfy.polls = 0
    r = cli("run", "workflows/generate.json", "--server", fake_server, "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    with open(os.path.join(ROOT, "workflows", "generate.json")) as f:
        assert FakeComfy.received["prompt"] == json.load(f)
    assert (tmp_path / "g_00001_.png").read_bytes() == b"\x89PNG fake"


def test_server_mode_uploads_the_images_loaders_name(fake_server, tmp_path):
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "m.png").write_bytes(b"PNGDATA")
    wf = tmp_path / "wf.json"
    wf.write_text(json.dumps({"1": {"class_type": "LoadImageMask", "inputs": {"image": "m.png", "channel": "red"}},
                              "2": {"class_type": "LoadImage", "inputs": {"image": "not_here.png"}}}))
    FakeComfy.uploads.clear()
    FakeComfy.polls = 0
    r = cli("run", str(wf), "--server", fake_server, "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert len(FakeComfy.uploads) == 1 and b'filename="m.png"' in FakeComfy.uploads[0] \
        and b"PNGDATA" in FakeComfy.uploads[0] and b'name="overwrite"' in FakeComfy.uploads[0]


def test_server_validation_errors_are_explained(fake_server, tmp_path):
    wf = tmp_path / "bad.json"
    wf.write_text(json.dumps({"9": {"class_type": "X", "inputs": {}}}))
    r = cli("run", str(wf), "--server", fake_server, "--out", str(tmp_path))
    assert r.returncode == 1 and "node 9 (X): Value not in list" in r.stderr

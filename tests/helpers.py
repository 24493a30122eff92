"""Paths and small builders shared by the tests."""
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")


def fixture_path(name: str) -> str:
    return os.path.join(FIXTURES, name)


class StubComfyHandler:
    """Shared reply plumbing of the loopback stand-ins for ComfyUI's HTTP API (CLI and fan-out tests)."""

    def log_message(self, *a):
        pass

    def _send(self, code, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

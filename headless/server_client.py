"""Submit an API-format workflow to a running ComfyUI server (standard library only).

POST /prompt, poll GET /history/<prompt_id> until the prompt has finished, then
download every output image through GET /view into a local folder.
"""
from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from .example_inputs import find_input


class ServerError(Exception):
    pass


class ServerUnreachable(ServerError):
    """The server did not answer (refused, reset, timed out): another server may run the prompt."""


def _request(url: str, data: dict | None = None, timeout: float = 30.0):
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"} if body else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.read()
    except urllib.error.HTTPError as e:
        detail = e.read().decode(errors="replace")
        raise ServerError(f"{url} answered {e.code}: {_explain(detail)}") from None
    except urllib.error.URLError as e:
        raise ServerUnreachable(f"cannot reach {url}: {e.reason}") from None
    except OSError as e:  # timeout or reset while reading the answer
        raise ServerUnreachable(f"cannot reach {url}: {e}") from None


def _explain(detail: str) -> str:
    try:
        data = json.loads(detail)
    except ValueError:
        return detail[:500]
    lines = []
    err = data.get("error")
    if isinstance(err, dict):
        lines.append(f"{err.get('message', '')} {err.get('details', '')}".strip())
    for nid, info in (data.get("node_errors") or {}).items():
        for e in info.get("errors", []):
            lines.append(f"node {nid} ({info.get('class_type')}): {e.get('message')} {e.get('details', '')}".strip())
    return "; ".join(lines) or detail[:500]


IMAGE_LOADERS = ("LoadImage", "LoadImageMask")


def _multipart(fields: dict, file_field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
                 f'Content-Type: application/octet-stream\r\n\r\n'.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def upload_inputs(base: str, prompt: dict, input_dir: str | None, log=print) -> list[str]:
    """Upload the images that LoadImage / LoadImageMask nodes name, from the workflow's input folder
    (or the pack's example inputs)."""
    sent = []
    for node in prompt.values():
        name = node.get("inputs", {}).get("image")
        if node.get("class_type") not in IMAGE_LOADERS or not isinstance(name, str):
            continue
        path = find_input(name, input_dir)
        if path is None or name in sent:
            continue
        with open(path, "rb") as f:
            body, ctype = _multipart({"overwrite": "true", "type": "input"}, "image", name, f.read())
        req = urllib.request.Request(f"{base}/upload/image", data=body, headers={"Content-Type": ctype})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                r.read()
        except urllib.error.HTTPError as e:
            raise ServerError(f"uploading {name} failed: {e.code} {e.read().decode(errors='replace')[:200]}") from None
        except urllib.error.URLError as e:
            raise ServerUnreachable(f"cannot reach {base}: {e.reason}") from None
        except OSError as e:
            raise ServerUnreachable(f"cannot reach {base}: {e}") from None
        log(f"uploaded {name}")
        sent.append(name)
    return sent


def submit_and_fetch(server: str, prompt: dict, out_dir: str, timeout: float = 600.0,
                     poll: float = 0.5, log=print, input_dir: str | None = None) -> list[str]:
    """Run ``prompt`` on ``server``; returns the paths of the downloaded images."""
    base = server.rstrip("/")
    upload_inputs(base, prompt, input_dir, log)
    prompt_id = queue_prompt(base, prompt)
    log(f"queued prompt {prompt_id}")
    entry = wait_for(base, prompt_id, timeout, poll)
    return download_images(base, entry, out_dir)


def queue_prompt(base: str, prompt: dict) -> str:
    """POST /prompt; returns the prompt id."""
    answer = json.loads(_request(f"{base}/prompt", {"prompt": prompt, "client_id": uuid.uuid4().hex}))
    if answer.get("node_errors"):
        raise ServerError(f"the server reported node errors: {answer['node_errors']}")
    return answer["prompt_id"]


def wait_for(base: str, prompt_id: str, timeout: float = 600.0, poll: float = 0.5) -> dict:
    """Poll /history until the prompt has finished; returns its history entry, raises if it failed."""
    deadline = time.time() + timeout
    while True:
        hist = json.loads(_request(f"{base}/history/{prompt_id}"))
        if prompt_id in hist:
            entry = hist[prompt_id]
            break
        if time.time() > deadline:
            raise ServerUnreachable(f"prompt {prompt_id} did not finish within {timeout:.0f} s")
        time.sleep(poll)
    status = entry.get("status", {})
    if status.get("status_str") != "success":
        msgs = [m for m in status.get("messages", []) if m and m[0] == "execution_error"]
        detail = msgs[0][1].get("exception_message", "") if msgs else ""
        raise ServerError(f"prompt {prompt_id} failed on the server: {detail}".strip())
    return entry


def output_images(entry: dict) -> list[dict]:
    """The image records (filename, subfolder, type) of a finished history entry, in node order."""
    return [img for _, outputs in sorted(entry.get("outputs", {}).items())
            for img in outputs.get("images", [])]


def fetch_image(base: str, img: dict) -> bytes:
    query = urllib.parse.urlencode({"filename": img["filename"], "subfolder": img.get("subfolder", ""),
                                    "type": img.get("type", "output")})
    return _request(f"{base}/view?{query}", timeout=60)


def download_images(base: str, entry: dict, out_dir: str) -> list[str]:
    os.makedirs(out_dir, exist_ok=True)
    saved = []
    for img in output_images(entry):
        path = os.path.join(out_dir, img["filename"])
        with open(path, "wb") as f:
            f.write(fetch_image(base, img))
        saved.append(path)
    return saved

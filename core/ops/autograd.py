"""Gradients inside hosts that run everything under ``torch.inference_mode()`` (ComfyUI does).

Optimisation-based operations wrap their work in ``trainable()`` and copy their inputs
with ``normal_tensor`` first, because tensors made in inference mode can never be saved
for backward.
"""
from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def trainable():
    with torch.inference_mode(False), torch.enable_grad():
        yield


def normal_tensor(t: torch.Tensor) -> torch.Tensor:
    """A detached copy that autograd may use (call inside ``trainable()``)."""
    return t.detach().clone()

"""``torch.load`` with the restricted (weights-only) unpickler, errors made readable."""
from __future__ import annotations

import argparse
import re

import torch

from ..errors import CheckpointError, UnsafeCheckpointError

# Globals that released checkpoints carry besides tensors: training arguments.
SAFE_EXTRA_GLOBALS = [argparse.Namespace]


def safe_torch_load(path: str):
    """Load a torch.save file (zip or legacy container) without executing pickled code."""
    try:
        with torch.serialization.safe_globals(SAFE_EXTRA_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises plain RuntimeError/UnpicklingError for everything
        msg = str(e)
        m = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)", msg)
        if m:
            raise UnsafeCheckpointError(
                f"it references the Python global '{m.group(1)}', which torch's weights-only loader refuses; "
                f"loading it could run code from the file") from None
        if "Weights only load failed" in msg:
            detail = [line for line in msg.splitlines()[1:] if line.strip()]
            raise UnsafeCheckpointError(
                f"torch's weights-only loader refused it ({(detail[0] if detail else 'unsafe content')[:160]})") from None
        if "central directory" in msg or "failed reading zip" in msg or isinstance(e, EOFError) \
                or "truncated" in msg.lower() or "Ran out of input" in msg:
            raise CheckpointError("the torch file is truncated or corrupt") from None
        first = msg.strip().splitlines()[0] if msg.strip() else type(e).__name__
        raise CheckpointError(f"torch could not read it ({first[:200]})") from None

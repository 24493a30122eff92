"""Checkpoints never run code: pickled source, hostile globals and broken files are refused cleanly."""
import io
import os
import pickle
import sys
import tempfile
import types

import numpy as np
import pytest
import torch

from helpers import fixture_path
from gan_local_edit.core import (CheckpointError, UnsafeCheckpointError, UnsupportedCheckpointError,
                                 load_generator)

TRAP_MARKER = os.path.join(tempfile.gettempdir(), "GLE_PICKLED_SOURCE_EXECUTED")


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "a hostile payload was executed"


@pytest.mark.parametrize("name", ["nvidia_ada_tiny32_skip.pkl", "nvidia_ada_tiny32_resnet_clamp.pkl",
                                  "nvidia_tf_tiny32.pkl"])
def test_embedded_source_trap_never_fires(name):
    if os.path.exists(TRAP_MARKER):
        os.remove(TRAP_MARKER)
    g = load_generator(fixture_path(name))
    assert g.num_ws == 8
    assert not os.path.exists(TRAP_MARKER)


class _Reduce:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _write(tmp_path, data: bytes, name="evil.pkl"):
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def test_os_system_reduce_is_refused(tmp_path, marker):
    data = pickle.dumps({"G_ema": _Reduce(os.system, f"touch {marker}")})
    with pytest.raises(UnsafeCheckpointError, match=r"(posix|nt|os)\.system"):
        load_generator(_write(tmp_path, data))


def test_builtins_eval_reduce_is_refused(tmp_path, marker):
    data = pickle.dumps({"G_ema": _Reduce(eval, f"open({str(marker)!r}, 'w').write('x')")})
    with pytest.raises(UnsafeCheckpointError, match=r"builtins\.eval"):
        load_generator(_write(tmp_path, data))


def _fake_persistence():
    """A stand-in for NVIDIA's torch_utils.persistence whose reconstructor would run the source."""
    pkg = types.ModuleType("torch_utils")
    mod = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # what the real one does: exec the source
        exec(meta["module_src"], {})

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    mod._reconstruct_persistent_obj = _reconstruct_persistent_obj
    pkg.persistence = mod
    return {"torch_utils": pkg, "torch_utils.persistence": mod}


def _persistent_pickle(marker, class_name, state):
    src = f"open({str(marker)!r}, 'w').write('x')\n"
    mods = _fake_persistence()
    saved = {k: sys.modules.get(k) for k in mods}
    sys.modules.update(mods)
    try:
        meta = {"type": "class", "version": 6, "module_src": src, "class_name": class_name, "state": state}
        obj = _Reduce(mods["torch_utils.persistence"]._reconstruct_persistent_obj, meta)
        return pickle.dumps({"G_ema": obj, "G": None, "D": None}, protocol=4)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def test_persistent_object_with_malicious_source_and_unknown_class(tmp_path, marker):
    data = _persistent_pickle(marker, "Evil", {"_modules": {}})
    with pytest.raises(UnsupportedCheckpointError, match="not StyleGAN2 layers"):
        load_generator(_write(tmp_path, data))


def test_persistent_generator_with_malicious_source_is_read_as_data_only(tmp_path, marker):
    data = _persistent_pickle(marker, "Generator", {"_modules": {}, "img_resolution": 32})
    with pytest.raises(CheckpointError, match="no mapping or synthesis"):
        load_generator(_write(tmp_path, data))


def test_hostile_storage_blob_is_refused(tmp_path, marker):
    buf = io.BytesIO()
    torch.save(_Reduce(os.system, f"touch {marker}"), buf, _use_new_zipfile_serialization=False)
    data = pickle.dumps({"G_ema": _Reduce(torch.storage._load_from_bytes, buf.getvalue())})
    with pytest.raises(CheckpointError):
        load_generator(_write(tmp_path, data))


@pytest.mark.parametrize("zipfile", [True, False])
def test_hostile_torch_file_is_refused(tmp_path, marker, zipfile):
    path = str(tmp_path / "evil.pt")
    torch.save({"g_ema": {"style.1.weight": _Reduce(os.system, f"touch {marker}")}}, path,
               _use_new_zipfile_serialization=zipfile)
    with pytest.raises(UnsafeCheckpointError, match="system"):
        load_generator(path)


def test_numpy_object_arrays_are_refused(tmp_path):
    data = pickle.dumps({"G_ema": np.array([print, "x"], dtype=object)})
    with pytest.raises(UnsafeCheckpointError):
        load_generator(_write(tmp_path, data))


@pytest.mark.parametrize("name", ["nvidia_ada_tiny32_skip.pkl", "nvidia_tf_tiny32.pkl", "rosinality_tiny32.pt",
                                  "proggan_tiny64.pth", "nvidia_ada_tiny32_skip_expected.safetensors"])
@pytest.mark.parametrize("fraction", [0.02, 0.6])
def test_truncated_files_give_one_line_errors(tmp_path, name, fraction):
    data = open(fixture_path(name), "rb").read()
    path = _write(tmp_path, data[: int(len(data) * fraction)], name)
    with pytest.raises(CheckpointError) as info:
        load_generator(path)
    msg = str(info.value)
    assert msg.startswith(f"cannot load {name!r}") and "\n" not in msg


@pytest.mark.parametrize("content,what", [
    (b"", "zero bytes"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\n", "Git LFS pointer"),
    (b"<!DOCTYPE html><html>", "HTML page"),
    (os.urandom(4096), "not"),
    (pickle.dumps([1, 2, 3]), "not an NVIDIA network pickle"),
])
def test_foreign_files_are_named(tmp_path, content, what):
    with pytest.raises(CheckpointError, match=what):
        load_generator(_write(tmp_path, content, "model.pkl"))


def test_foreign_safetensors_is_named(tmp_path):
    from safetensors.torch import save_file
    path = str(tmp_path / "sd.safetensors")
    save_file({"model.diffusion_model.x": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="without GAN Local Edit metadata"):
        load_generator(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_generator(tmp_path / "nope.pkl")
    with pytest.raises(CheckpointError, match="folder"):
        load_generator(tmp_path)

"""The templates' example images reach ComfyUI's input folder (never over a user's file) and the runners."""
import os
import types

import pytest

from helpers import ROOT
from gan_local_edit.headless import builtin_nodes
from gan_local_edit.headless.example_inputs import EXAMPLE_DIR, example_names
from gan_local_edit.nodes import comfy_bridge


def test_examples_are_pack_prefixed():
    names = example_names()
    assert names == sorted(f for f in os.listdir(os.path.join(ROOT, "workflows", "input")) if f.endswith(".png"))
    assert names and all(n.startswith("gle_") for n in names)


def test_import_hook_copies_absent_examples_and_keeps_the_users_file(tmp_path, monkeypatch):
    users = tmp_path / "gle_face_a.png"
    users.write_bytes(b"the user's own picture")
    monkeypatch.setattr(comfy_bridge, "folder_paths", types.SimpleNamespace(get_input_directory=lambda: str(tmp_path)))
    copied = comfy_bridge.install_example_inputs()
    assert sorted(copied) == [n for n in example_names() if n != "gle_face_a.png"]
    assert users.read_bytes() == b"the user's own picture"
    for n in copied:
        assert (tmp_path / n).read_bytes() == open(os.path.join(EXAMPLE_DIR, n), "rb").read()
    assert comfy_bridge.install_example_inputs() == []


def test_import_hook_never_raises(monkeypatch, capsys):
    def broken():
        raise PermissionError("read-only input folder")
    monkeypatch.setattr(comfy_bridge, "folder_paths", types.SimpleNamespace(get_input_directory=broken))
    assert comfy_bridge.install_example_inputs() == []
    assert "read-only input folder" in capsys.readouterr().out


def test_in_process_load_image_finds_examples_from_any_input_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(builtin_nodes.Dirs, "input_dir", str(tmp_path))
    assert "gle_face_a.png" in builtin_nodes.LoadImage.INPUT_TYPES()["required"]["image"][0]
    image, _ = builtin_nodes.LoadImage().load_image("gle_face_a.png")
    assert image.shape[0] == 1 and image.shape[-1] == 3
    with pytest.raises(FileNotFoundError, match="Invalid image file: face_a.png"):
        builtin_nodes.LoadImage().load_image("face_a.png")

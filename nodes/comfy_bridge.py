"""Everything the nodes need from ComfyUI, with stand-ins when ComfyUI is absent.

Inside ComfyUI: the ``gan_models`` model folder is registered with ``folder_paths`` and
progress goes to ``comfy.utils.ProgressBar`` (whose hook also raises on interruption).
Outside (tests, headless CLI): model files come from the folders in the environment
variable ``GLE_GAN_MODELS`` (os.pathsep-separated) and progress goes to an optional hook.
"""
from __future__ import annotations

import os

import torch

try:  # ComfyUI's modules exist only inside a ComfyUI process
    import folder_paths  # type: ignore
except ImportError:  # pragma: no cover - depends on the host
    folder_paths = None
try:
    import comfy.utils  # type: ignore
    import comfy.model_management  # type: ignore
except ImportError:  # pragma: no cover
    comfy = None

MODEL_FOLDER = "gan_models"
CHECKPOINT_EXTENSIONS = {".pkl", ".pt", ".pth", ".safetensors", ".ckpt", ".bin"}
DEVICES = ["auto", "cpu", "cuda"]

# Headless progress hook: fn(node_id, done, total). Set by the in-process executor.
progress_hook = None


def register_model_folder() -> None:
    if folder_paths is None:
        return
    default = os.path.join(folder_paths.models_dir, MODEL_FOLDER)
    if MODEL_FOLDER in folder_paths.folder_names_and_paths:
        paths, exts = folder_paths.folder_names_and_paths[MODEL_FOLDER]
        if default not in paths:
            paths.append(default)
        folder_paths.folder_names_and_paths[MODEL_FOLDER] = (paths, set(exts) | CHECKPOINT_EXTENSIONS)
    else:
        folder_paths.folder_names_and_paths[MODEL_FOLDER] = ([default], set(CHECKPOINT_EXTENSIONS))
    os.makedirs(default, exist_ok=True)


def model_folders() -> list[str]:
    if folder_paths is not None:
        return list(folder_paths.get_folder_paths(MODEL_FOLDER))
    env = os.environ.get("GLE_GAN_MODELS", "")
    return [p for p in env.split(os.pathsep) if p]


def list_model_files() -> list[str]:
    if folder_paths is not None:
        return list(folder_paths.get_filename_list(MODEL_FOLDER))
    names = set()
    for folder in model_folders():
        for dirpath, _, files in os.walk(folder):
            for f in files:
                if os.path.splitext(f)[1].lower() in CHECKPOINT_EXTENSIONS:
                    names.add(os.path.relpath(os.path.join(dirpath, f), folder).replace(os.sep, "/"))
    return sorted(names)


def model_file_path(name: str) -> str:
    if folder_paths is not None:
        path = folder_paths.get_full_path(MODEL_FOLDER, name)
        if path:
            return path
    else:
        for folder in model_folders():
            path = os.path.normpath(os.path.join(folder, name))
            if path.startswith(os.path.normpath(folder) + os.sep) and os.path.isfile(path):
                return path
    raise FileNotFoundError(f"no file {name!r} in the {MODEL_FOLDER} folders {model_folders()}")


class Progress:
    """Maps an operation's ``on_step(done, total, preview)`` to ComfyUI's progress bar.

    Each update is also an interruption point: ComfyUI's hook raises when the user
    presses Cancel, which unwinds the operation before it returns anything.
    """

    def __init__(self, total: int, node_id=None):
        self.total, self.node_id = max(int(total), 1), node_id
        self.bar = comfy.utils.ProgressBar(self.total) if comfy is not None else None

    def __call__(self, done: int, total: int | None = None, preview=None) -> None:
        total = self.total if total is None else max(int(total), 1)
        if self.bar is not None:
            self.bar.update_absolute(int(done), total, _preview_tuple(preview))
        else:
            check_interrupted()
            if progress_hook is not None:
                progress_hook(self.node_id, int(done), total)


def check_interrupted() -> None:
    if comfy is not None:
        comfy.model_management.throw_exception_if_processing_interrupted()


def _preview_tuple(preview):
    """An image tensor [C,H,W] in [-1,1] -> ComfyUI's ("JPEG", PIL image, max size) preview."""
    if preview is None:
        return None
    from PIL import Image
    from ..core.imaging import to_uint8
    arr = to_uint8(preview.unsqueeze(0) if preview.ndim == 3 else preview[:1])[0]
    return ("JPEG", Image.fromarray(arr), 512)


def image_to_comfy(img: torch.Tensor) -> torch.Tensor:
    """Generator images [B,C,H,W] (about [-1,1]) -> ComfyUI IMAGE [B,H,W,3] in 0..1 on the CPU."""
    from ..core.imaging import to_bhwc
    return to_bhwc(img)

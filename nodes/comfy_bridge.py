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
CATALOG_FOLDER = "gan_catalogs"
PERCEPTUAL_FOLDER = "gan_perceptual"       # optional VGG16 weights for inversion
DIRECTIONS_FOLDER = "gan_directions"       # learned / global latent directions
UNITS_FOLDER = "gan_units"                 # GANPaint unit tables (Dissect Units)
FOLDERS = {MODEL_FOLDER: {".pkl", ".pt", ".pth", ".safetensors", ".ckpt", ".bin"},
           CATALOG_FOLDER: {".safetensors"},
           PERCEPTUAL_FOLDER: {".pt", ".pth", ".safetensors"},
           DIRECTIONS_FOLDER: {".safetensors"}, UNITS_FOLDER: {".safetensors"}}
ENV_VARS = {MODEL_FOLDER: "GLE_GAN_MODELS", CATALOG_FOLDER: "GLE_GAN_CATALOGS",
            PERCEPTUAL_FOLDER: "GLE_GAN_PERCEPTUAL", DIRECTIONS_FOLDER: "GLE_GAN_DIRECTIONS",
            UNITS_FOLDER: "GLE_GAN_UNITS"}
DEVICES = ["auto", "cpu", "cuda"]

# Headless progress hook: fn(node_id, done, total). Set by the in-process executor.
progress_hook = None


def register_model_folders() -> None:
    """Declare the pack's model folders (models/gan_models, gan_catalogs, gan_perceptual, gan_directions, gan_units) to ComfyUI."""
    if folder_paths is None:
        return
    for name, exts in FOLDERS.items():
        default = os.path.join(folder_paths.models_dir, name)
        if name in folder_paths.folder_names_and_paths:
            paths, old = folder_paths.folder_names_and_paths[name]
            if default not in paths:
                paths.append(default)
            folder_paths.folder_names_and_paths[name] = (paths, set(old) | exts)
        else:
            folder_paths.folder_names_and_paths[name] = ([default], set(exts))
        os.makedirs(default, exist_ok=True)


def install_example_inputs() -> list[str]:
    """Copy the templates' gle_*.png into ComfyUI's input folder when absent. Never raises: a
    read-only or odd input folder must not stop the pack from loading."""
    if folder_paths is None:
        return []
    try:
        from ..headless.example_inputs import install_examples
        copied = install_examples(folder_paths.get_input_directory())
    except Exception as e:  # noqa: BLE001 - import of the pack must not fail on this
        print(f"[gan_local_edit] example inputs not copied to ComfyUI's input folder: {e}")
        return []
    if copied:
        print(f"[gan_local_edit] copied example inputs to {folder_paths.get_input_directory()}: {', '.join(copied)}")
    return copied


def model_folders(folder: str = MODEL_FOLDER) -> list[str]:
    if folder_paths is not None:
        return list(folder_paths.get_folder_paths(folder))
    env = os.environ.get(ENV_VARS[folder], "")
    return [p for p in env.split(os.pathsep) if p]


def list_model_files(folder: str = MODEL_FOLDER) -> list[str]:
    if folder_paths is not None:
        return list(folder_paths.get_filename_list(folder))
    names = set()
    for root in model_folders(folder):
        for dirpath, _, files in os.walk(root):
            for f in files:
                if os.path.splitext(f)[1].lower() in FOLDERS[folder]:
                    names.add(os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/"))
    return sorted(names)


def model_file_path(name: str, folder: str = MODEL_FOLDER) -> str:
    if folder_paths is not None:
        path = folder_paths.get_full_path(folder, name)
        if path:
            return path
    else:
        for root in model_folders(folder):
            path = os.path.normpath(os.path.join(root, name))
            if path.startswith(os.path.normpath(root) + os.sep) and os.path.isfile(path):
                return path
    raise FileNotFoundError(f"no file {name!r} in the {folder} folders {model_folders(folder)}")


def output_path(name: str, folder: str) -> str:
    """Where a node writes a new file of ``folder`` (the first configured folder)."""
    roots = model_folders(folder)
    if not roots:
        raise FileNotFoundError(f"no {folder} folder is configured (outside ComfyUI set {ENV_VARS[folder]})")
    if os.path.basename(name) != name or name.startswith(".") or not name.strip():
        raise ValueError(f"{name!r} must be a plain file name")
    os.makedirs(roots[0], exist_ok=True)
    return os.path.join(roots[0], name)


def file_state(path: str) -> str:
    """Changes when the file is replaced or rewritten (for IS_CHANGED)."""
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    return f"{st.st_mtime_ns}-{st.st_size}"


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


def image_from_comfy(image: torch.Tensor, what: str = "IMAGE") -> torch.Tensor:
    """ComfyUI IMAGE [B,H,W,C] in 0..1 -> [B,C,H,W] in [-1,1], refusing what no node can use."""
    from ..core.imaging import from_bhwc
    if image.ndim != 4:
        raise ValueError(f"{what} must be [B, H, W, C], got {list(image.shape)}")
    if image.shape[-1] == 4:
        raise ValueError(f"{what} has an alpha channel: remove it (e.g. composite onto a background) first")
    bad = int((~torch.isfinite(image)).sum())
    if bad:
        raise ValueError(f"{what} has {bad} NaN or infinite values out of {image.numel()}: fix the node that made it")
    return from_bhwc(image)

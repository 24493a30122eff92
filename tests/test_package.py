"""The pack loads the way ComfyUI loads it, under any folder name, and keeps its layering."""
import ast
import glob
import os
import subprocess
import sys

from helpers import ROOT


def test_loads_under_any_folder_name(tmp_path):
    link = tmp_path / "Some Folder-Name.v2"
    os.symlink(ROOT, link)
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('custom_nodes_x_weird', {str(link / '__init__.py')!r})\n"
        "m = importlib.util.module_from_spec(spec); sys.modules[spec.name] = m; spec.loader.exec_module(m)\n"
        "print(sorted(m.NODE_CLASS_MAPPINGS))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "GLELoadGenerator" in r.stdout


def _imports(path):
    tree = ast.parse(open(path).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield ("." * node.level) + (node.module or "")


def test_core_never_imports_comfyui_or_nodes():
    for path in glob.glob(os.path.join(ROOT, "core", "**", "*.py"), recursive=True):
        for name in _imports(path):
            assert not name.startswith(("comfy", "folder_paths", "nodes", "server", "execution")), (path, name)
            depth = os.path.relpath(path, ROOT).count(os.sep)
            assert not (name.startswith(".") and name.lstrip(".").startswith(("nodes", "headless"))
                        and len(name) - len(name.lstrip(".")) >= depth), (path, name)


def test_only_declared_dependencies_are_imported():
    allowed = {"torch", "numpy", "PIL", "safetensors", "kornia", "einops"}
    stdlib = set(sys.stdlib_module_names)
    for folder in ("core", "nodes", "headless"):
        for path in glob.glob(os.path.join(ROOT, folder, "**", "*.py"), recursive=True):
            for name in _imports(path):
                top = name.split(".")[0]
                if name.startswith(".") or top in stdlib or top in {"comfy", "folder_paths"}:
                    continue
                assert top in allowed, (path, name)


def test_pyproject_declares_the_dependencies():
    text = open(os.path.join(ROOT, "pyproject.toml")).read()
    for dep in ("torch", "numpy", "pillow", "safetensors", "kornia", "einops", "[tool.comfy]"):
        assert dep in text

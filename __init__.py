"""GAN Local Edit: local, semantic editing of style-based GAN images, as ComfyUI nodes.

ComfyUI imports this folder as a package (under whatever name the folder has) and reads
NODE_CLASS_MAPPINGS / NODE_DISPLAY_NAME_MAPPINGS. Only relative imports are used, so the
pack works under any folder name and without ComfyUI (tests, scripts, CLI).
"""
from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

WEB_DIRECTORY = None
__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]

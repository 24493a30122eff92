"""ComfyUI adapters: each node validates inputs, converts tensors, calls one core function."""
from . import comfy_bridge
from .generator_nodes import NODES as _GENERATOR_NODES

comfy_bridge.register_model_folder()

_ALL = {**_GENERATOR_NODES}
NODE_CLASS_MAPPINGS = {key: cls for key, (cls, _) in _ALL.items()}
NODE_DISPLAY_NAME_MAPPINGS = {key: title for key, (_, title) in _ALL.items()}

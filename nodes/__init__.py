"""ComfyUI adapters: each node validates inputs, converts tensors, calls one core function."""
from . import comfy_bridge
from .catalog_nodes import NODES as _CATALOG_NODES
from .direction_nodes import NODES as _DIRECTION_NODES
from .generator_nodes import NODES as _GENERATOR_NODES
from .invert_nodes import NODES as _INVERT_NODES
from .paint_nodes import NODES as _PAINT_NODES
from .paste_nodes import NODES as _PASTE_NODES
from .stylemap_nodes import NODES as _STYLEMAP_NODES

comfy_bridge.register_model_folders()
comfy_bridge.install_example_inputs()

_ALL = {**_GENERATOR_NODES, **_CATALOG_NODES, **_PASTE_NODES, **_INVERT_NODES, **_DIRECTION_NODES,
        **_STYLEMAP_NODES, **_PAINT_NODES}
NODE_CLASS_MAPPINGS = {key: cls for key, (cls, _) in _ALL.items()}
NODE_DISPLAY_NAME_MAPPINGS = {key: title for key, (_, title) in _ALL.items()}

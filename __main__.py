"""``python .`` (inside the pack folder) or ``python -m <folder>`` (beside it): the CLI."""
import importlib.util
import os
import sys

if __package__:
    from .headless.cli import main
else:  # run as a script: import the folder as a package, the way ComfyUI does
    _root = os.path.dirname(os.path.abspath(__file__))
    _spec = importlib.util.spec_from_file_location("gan_local_edit", os.path.join(_root, "__init__.py"),
                                                   submodule_search_locations=[_root])
    _pack = importlib.util.module_from_spec(_spec)
    sys.modules["gan_local_edit"] = _pack
    _spec.loader.exec_module(_pack)
    from gan_local_edit.headless.cli import main

if __name__ == "__main__":
    sys.exit(main())

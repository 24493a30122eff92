"""A minimal in-process executor for ComfyUI API-format workflows.

It follows ComfyUI's semantics where the shipped workflows depend on them: a prompt is
``{node_id: {"class_type", "inputs"}}``; a linked input is ``[node_id, output_slot]``;
only nodes upstream of output nodes run, each once, in dependency order; link types must
match exactly; widget values are converted and range/choice-checked; hidden inputs
PROMPT / EXTRA_PNGINFO / UNIQUE_ID are supplied. It is what the tests and the CLI use
where ComfyUI itself is not installed.
"""
from __future__ import annotations

import json
import os

import torch

from .builtin_nodes import BUILTIN_NODES, Dirs

WIDGET_CONVERTERS = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}


class WorkflowError(Exception):
    """A workflow that cannot run, with the node it concerns."""

    def __init__(self, node_id, class_type, message):
        super().__init__(f"node {node_id} ({class_type}): {message}")
        self.node_id, self.class_type = node_id, class_type


def node_registry(pack_mappings: dict, pack_titles: dict | None = None) -> tuple[dict, dict]:
    classes = {k: v for k, (v, _) in BUILTIN_NODES.items()}
    titles = {k: t for k, (_, t) in BUILTIN_NODES.items()}
    classes.update(pack_mappings)
    titles.update(pack_titles or {})
    return classes, titles


def load_prompt(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, dict) and "prompt" in data and isinstance(data["prompt"], dict):
        data = data["prompt"]  # a saved POST /prompt body
    if not isinstance(data, dict) or not all(isinstance(v, dict) and "class_type" in v for v in data.values()):
        if isinstance(data, dict) and "nodes" in data and "links" in data:
            raise ValueError(f"{path} is a UI-format workflow; give the API-format file (workflows/*.json)")
        raise ValueError(f"{path} is not an API-format ComfyUI workflow")
    return data


def _is_link(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


def _input_specs(cls) -> dict:
    spec = cls.INPUT_TYPES()
    out = {}
    for section in ("required", "optional"):
        for name, s in (spec.get(section) or {}).items():
            out[name] = (section, s[0], s[1] if len(s) > 1 else {})
    return out


def execution_order(prompt: dict, classes: dict) -> list[str]:
    """Nodes upstream of output nodes, each after everything it reads from."""
    for nid, node in prompt.items():
        if node["class_type"] not in classes:
            raise WorkflowError(nid, node["class_type"], "unknown node type (is the node pack installed?)")
    outputs = [nid for nid, n in prompt.items() if getattr(classes[n["class_type"]], "OUTPUT_NODE", False)]
    if not outputs:
        raise WorkflowError("-", "-", "the workflow has no output node (SaveImage, PreviewImage, ...)")
    order, state = [], {}

    def visit(nid, path):
        if nid not in prompt:
            raise WorkflowError(path[-1], prompt[path[-1]]["class_type"], f"links to missing node {nid}")
        if state.get(nid) == "done":
            return
        if state.get(nid) == "active":
            raise WorkflowError(nid, prompt[nid]["class_type"], "the workflow has a cycle")
        state[nid] = "active"
        for value in prompt[nid].get("inputs", {}).values():
            if _is_link(value):
                visit(value[0], path + [nid])
        state[nid] = "done"
        order.append(nid)

    for nid in sorted(outputs, key=str):
        visit(nid, [nid])
    return order


def _check_widget(nid, ctype, name, kind, opts, value):
    if isinstance(kind, list):
        if value not in kind:
            raise WorkflowError(nid, ctype, f"value {value!r} for {name!r} is not one of the choices {kind[:8]}")
        return value
    conv = WIDGET_CONVERTERS.get(kind)
    if conv is None:
        raise WorkflowError(nid, ctype, f"input {name!r} of type {kind} must be linked to another node's output")
    try:
        value = conv(value)
    except (TypeError, ValueError):
        raise WorkflowError(nid, ctype, f"value {value!r} for {name!r} is not a valid {kind}") from None
    if "min" in opts and value < opts["min"]:
        raise WorkflowError(nid, ctype, f"{name}={value} is smaller than the minimum {opts['min']}")
    if "max" in opts and value > opts["max"]:
        raise WorkflowError(nid, ctype, f"{name}={value} is bigger than the maximum {opts['max']}")
    return value


def run_prompt(prompt: dict, classes: dict, output_dir: str, input_dir: str | None = None,
               extra_pnginfo: dict | None = None, log=None) -> dict:
    """Execute ``prompt``; returns ``{node_id: ui_dict}`` of the output nodes."""
    Dirs.output_dir = output_dir
    Dirs.input_dir = input_dir or os.path.join(os.path.dirname(output_dir) or ".", "input")
    order = execution_order(prompt, classes)
    results, ui = {}, {}
    for nid in order:
        node = prompt[nid]
        ctype = node["class_type"]
        cls = classes[ctype]
        specs = _input_specs(cls)
        given = node.get("inputs", {})
        kwargs = {}
        for name, (section, kind, opts) in specs.items():
            if name not in given:
                if section == "required":
                    if "default" in opts and kind in WIDGET_CONVERTERS:
                        kwargs[name] = opts["default"]
                        continue
                    raise WorkflowError(nid, ctype, f"required input {name!r} is missing")
                continue
            value = given[name]
            if _is_link(value):
                src_id, slot = value
                src_cls = classes[prompt[src_id]["class_type"]]
                if slot >= len(src_cls.RETURN_TYPES):
                    raise WorkflowError(nid, ctype, f"input {name!r} links to output {slot} of node {src_id}, "
                                                    f"which has {len(src_cls.RETURN_TYPES)} outputs")
                src_type = src_cls.RETURN_TYPES[slot]
                want = "COMBO" if isinstance(kind, list) else kind
                if src_type != want and "*" not in (src_type, want):
                    raise WorkflowError(nid, ctype, f"input {name!r} wants {want} but node {src_id} "
                                                    f"output {slot} is {src_type}")
                kwargs[name] = results[src_id][slot]
            else:
                kwargs[name] = _check_widget(nid, ctype, name, kind, opts, value)
        hidden = (cls.INPUT_TYPES().get("hidden") or {})
        for name, what in hidden.items():
            kwargs[name] = {"PROMPT": prompt, "EXTRA_PNGINFO": extra_pnginfo, "UNIQUE_ID": nid}.get(what)
        if hasattr(cls, "VALIDATE_INPUTS"):
            verdict = cls.VALIDATE_INPUTS(**{k: v for k, v in kwargs.items() if k in given and not _is_link(given[k])})
            if verdict is not True:
                raise WorkflowError(nid, ctype, f"invalid inputs: {verdict}")
        if log:
            log(f"[{nid}] {ctype}")
        try:
            with torch.inference_mode():  # as ComfyUI runs every node
                out = getattr(cls(), cls.FUNCTION)(**kwargs)
        except WorkflowError:
            raise
        except Exception as e:
            raise WorkflowError(nid, ctype, f"{type(e).__name__}: {e}") from e
        if isinstance(out, dict):
            if "ui" in out:
                ui[nid] = out["ui"]
            out = out.get("result", ())
        results[nid] = tuple(out) if out is not None else ()
    return ui

"""Convert a ComfyUI UI-format workflow (what the editor saves) to the API format (what it POSTs).

Follows the frontend's ``graphToPrompt`` rules: widget values are read positionally from
``widgets_values``. Their order is the one the real frontend saves, recorded by
``scripts/probe_frontend.js`` in ``tests/fixtures/frontend_widgets.json`` (frontend version
inside); node types not in that table follow the same rules it shows: the node definition's
widget inputs in order (required, then optional), an INT named ``seed``/``noise_seed`` or
declaring ``control_after_generate`` followed by its control value, and the upload widget of
an ``image_upload`` combo LAST (the frontend adds it after the node's own widgets; LoadImageMask
saves ``[image, channel, upload]``), none of the extra values being sent; a linked input becomes ``[str(origin_id), origin_slot]``;
muted nodes (mode 2) are left out and bypassed ones (mode 4) pass their first matching
input through; ``_meta.title`` is the node's title (default: its display name).
"""
from __future__ import annotations

import functools
import json
import os

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
VIRTUAL_NODES = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
SEED_NAMES = ("seed", "noise_seed")
FRONTEND_TABLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              "tests", "fixtures", "frontend_widgets.json")


def widget_inputs(cls) -> list[tuple[str, object, dict]]:
    """(name, type, options) of the inputs that are widgets, in widget order."""
    spec = cls.INPUT_TYPES()
    out = []
    for section in ("required", "optional"):
        for name, s in (spec.get(section) or {}).items():
            kind, opts = s[0], (s[1] if len(s) > 1 else {})
            is_widget = isinstance(kind, list) or kind in WIDGET_TYPES
            if is_widget and not opts.get("forceInput"):
                out.append((name, kind, opts))
    return out


def rule_layout(cls) -> list[tuple[str, bool]]:
    """(widget name, sent) for each value in widgets_values, by the frontend's rules."""
    out, tail = [], []
    for name, kind, opts in widget_inputs(cls):
        out.append((name, True))
        if kind == "INT":
            control = opts.get("control_after_generate", None)
            if control is None:
                control = name in SEED_NAMES
            if control:
                out.append(("control_after_generate", False))
        elif isinstance(kind, list) or kind == "COMBO":
            if opts.get("control_after_generate"):
                out += [("control_after_generate", False), ("control_filter_list", False)]
            if opts.get("image_upload"):
                tail.append(("upload", False))
    return out + tail


@functools.lru_cache(maxsize=1)
def frontend_table() -> dict:
    """The real frontend's saved-widget order per node type ({} when the table is absent)."""
    try:
        with open(FRONTEND_TABLE, encoding="utf-8") as f:
            return {k: v for k, v in json.load(f)["nodes"].items() if v}
    except (OSError, ValueError, KeyError):
        return {}


def saved_layout(ctype: str, cls) -> list[tuple[str, bool]]:
    """(widget name, sent) per widgets_values entry: the recorded frontend order when it still
    names exactly this class's widget inputs, else the rules."""
    entry = frontend_table().get(ctype)
    if entry is not None:
        layout = [(w["name"], bool(w["sent"])) for w in entry["widgets_values"]]
        if sorted(n for n, sent in layout if sent) == sorted(w[0] for w in widget_inputs(cls)):
            return layout
    return rule_layout(cls)


def ui_to_api(workflow: dict, classes: dict, titles: dict) -> dict:
    nodes = {str(n["id"]): n for n in workflow["nodes"]}
    links = {l[0]: l for l in workflow.get("links", [])}

    def source_of(link_id, want_type):
        """Follow a link back through reroutes and bypassed nodes to a real output."""
        _, origin, slot, _, _, ltype = links[link_id]
        node = nodes[str(origin)]
        if node["type"] == "Reroute":
            inp = (node.get("inputs") or [{}])[0]
            return source_of(inp["link"], want_type) if inp.get("link") is not None else None
        if node.get("mode") == 4:
            for inp in node.get("inputs") or []:
                if inp.get("link") is not None and inp.get("type") == (want_type or ltype):
                    return source_of(inp["link"], want_type)
            return None
        if node.get("mode") == 2:
            return None
        return [str(origin), slot]

    prompt = {}
    for nid, node in nodes.items():
        ctype = node["type"]
        if ctype in VIRTUAL_NODES or node.get("mode") in (2, 4):
            if ctype == "PrimitiveNode":
                raise ValueError(f"node {nid}: PrimitiveNode is not supported; set the value on the widget")
            continue
        if ctype not in classes:
            raise ValueError(f"node {nid}: unknown node type {ctype!r}")
        cls = classes[ctype]
        values = list(node.get("widgets_values") or [])
        layout = saved_layout(ctype, cls)
        if len(values) != len(layout):
            raise ValueError(f"node {nid} ({ctype}): {len(values)} widget values, expected {len(layout)} "
                             f"({', '.join(n for n, _ in layout)})")
        inputs = {name: value for (name, sent), value in zip(layout, values) if sent}
        for inp in node.get("inputs") or []:
            if inp.get("link") is None:
                continue
            src = source_of(inp["link"], inp.get("type"))
            if src is None:
                inputs.pop(inp["name"], None)
            else:
                inputs[inp["name"]] = src
        prompt[nid] = {"inputs": inputs, "class_type": ctype,
                       "_meta": {"title": node.get("title") or titles.get(ctype, ctype)}}
    return prompt

"""Convert a ComfyUI UI-format workflow (what the editor saves) to the API format (what it POSTs).

Follows the frontend's ``graphToPrompt`` rules: widget values are read positionally from
``widgets_values`` in the order of the node definition's inputs (required, then
optional); an INT named ``seed``/``noise_seed`` or declaring ``control_after_generate``
is followed by its control value, and an ``image_upload`` combo by its upload widget,
neither of which is sent; a linked input becomes ``[str(origin_id), origin_slot]``;
muted nodes (mode 2) are left out and bypassed ones (mode 4) pass their first matching
input through; ``_meta.title`` is the node's title (default: its display name).
"""
from __future__ import annotations

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
VIRTUAL_NODES = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
SEED_NAMES = ("seed", "noise_seed")


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


def extra_widget_values(name: str, kind, opts: dict) -> int:
    """How many serialized-but-not-sent widget values follow this widget in widgets_values."""
    extra = 0
    if kind == "INT":
        control = opts.get("control_after_generate", None)
        if control is None:
            control = name in SEED_NAMES
        extra += 1 if control else 0
    elif isinstance(kind, list) or kind == "COMBO":
        if opts.get("control_after_generate"):
            extra += 2  # control combo + its filter list
        if opts.get("image_upload"):
            extra += 1
    return extra


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
        inputs = {}
        pos = 0
        for name, kind, opts in widget_inputs(cls):
            if pos >= len(values):
                raise ValueError(f"node {nid} ({ctype}): widgets_values has no value for {name!r}")
            inputs[name] = values[pos]
            pos += 1 + extra_widget_values(name, kind, opts)
        if pos != len(values):
            raise ValueError(f"node {nid} ({ctype}): {len(values)} widget values, expected {pos}")
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

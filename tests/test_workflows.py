"""Shipped workflows: UI files convert to their API twins, and every API file runs headless."""
import glob
import json
import os

import pytest
from PIL import Image

from helpers import ROOT
import gan_local_edit as pack
from gan_local_edit.headless.executor import WorkflowError, load_prompt, node_registry, run_prompt
from gan_local_edit.headless.ui_format import FRONTEND_TABLE, frontend_table, rule_layout, saved_layout, ui_to_api

CLASSES, TITLES = node_registry(pack.NODE_CLASS_MAPPINGS, pack.NODE_DISPLAY_NAME_MAPPINGS)
API_FILES = sorted(glob.glob(os.path.join(ROOT, "workflows", "*.json")))
UI_FILES = sorted(glob.glob(os.path.join(ROOT, "example_workflows", "*.json")))
INPUT_DIR = os.path.join(ROOT, "workflows", "input")


def test_every_workflow_has_both_formats():
    assert API_FILES, "no workflows shipped"
    names = lambda files: sorted(os.path.basename(f) for f in files)  # noqa: E731
    assert names(API_FILES) == names(UI_FILES)


@pytest.mark.parametrize("ui_file", UI_FILES, ids=os.path.basename)
def test_ui_file_converts_to_its_api_twin(ui_file):
    with open(ui_file) as f:
        ui = json.load(f)
    with open(os.path.join(ROOT, "workflows", os.path.basename(ui_file))) as f:
        api = json.load(f)
    assert ui["version"] == 0.4 and ui["nodes"] and "links" in ui
    assert ui_to_api(ui, CLASSES, TITLES) == api


def test_frontend_table_was_taken_from_the_real_frontend():
    with open(FRONTEND_TABLE) as f:
        table = json.load(f)
    assert table["frontend_version"] == "1.27.10" and table["comfyui_version"] == "0.3.64"
    # the frontend puts LoadImageMask's upload widget after channel (the bug of issue 17)
    assert [w["name"] for w in table["nodes"]["LoadImageMask"]["widgets_values"]] == ["image", "channel", "upload"]


@pytest.mark.parametrize("ctype", sorted(CLASSES), ids=str)
def test_conversion_rules_match_the_real_frontend(ctype):
    """The rules (used for node types the table lacks) give the recorded frontend's order."""
    entry = frontend_table().get(ctype)
    if entry is None:
        pytest.skip(f"{ctype} is not in the recorded table (re-run scripts/probe_frontend.js)")
    recorded = [(w["name"], w["sent"]) for w in entry["widgets_values"]]
    rules = rule_layout(CLASSES[ctype])
    assert [sent for _, sent in rules] == [sent for _, sent in recorded]
    assert [n for n, sent in rules if sent] == [n for n, sent in recorded if sent]
    assert saved_layout(ctype, CLASSES[ctype]) == recorded


def test_every_workflow_used_type_is_in_the_frontend_table():
    used = {n["type"] for f in UI_FILES for n in json.load(open(f))["nodes"]}
    assert used - set(frontend_table()) == set()


@pytest.mark.parametrize("ui_file", UI_FILES, ids=os.path.basename)
def test_every_template_has_one_note_and_no_overlaps(ui_file):
    with open(ui_file) as f:
        nodes = json.load(f)["nodes"]
    notes = [n for n in nodes if n["type"] == "Note"]
    assert len(notes) == 1 and len(notes[0]["widgets_values"][0]) > 40
    boxes = []
    for n in nodes:
        w, h = n["size"]
        cw, ch = (frontend_table().get(n["type"]) or {}).get("size", [0, 0])
        boxes.append((n["pos"][0], n["pos"][1] - 30, max(w, cw), max(h, ch) + 30))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3])


@pytest.mark.parametrize("api_file", API_FILES, ids=os.path.basename)
def test_workflow_runs_headless_and_writes_images(api_file, tmp_path, monkeypatch):
    monkeypatch.setenv("GLE_GAN_CATALOGS", str(tmp_path / "catalogs"))
    monkeypatch.setenv("GLE_GAN_DIRECTIONS", str(tmp_path / "directions"))
    prompt = load_prompt(api_file)
    ui = run_prompt(prompt, CLASSES, str(tmp_path), input_dir=INPUT_DIR)
    images = [img for out in ui.values() for img in out.get("images", [])]
    assert images, "the workflow saved nothing"
    for img in images:
        path = os.path.join(tmp_path, img["subfolder"], img["filename"]) if img["type"] == "output" \
            else os.path.join(tmp_path, "preview", img["filename"])
        with Image.open(path) as im:
            assert im.size[0] >= 16 and im.mode == "RGB"
            assert json.loads(im.text["prompt"]) == prompt
            extrema = im.getextrema()
            assert any(hi - lo > 32 for lo, hi in extrema), "a flat image"


def _tiny_prompt():
    return {
        "1": {"class_type": "GLELoadGenerator", "inputs": {"model": "embedded: faces64", "device": "cpu"}},
        "2": {"class_type": "GLESampleLatents", "inputs": {"generator": ["1", 0], "seed": 1, "count": 1,
                                                          "truncation_psi": 0.7}},
        "3": {"class_type": "GLEGenerateImage", "inputs": {"generator": ["1", 0], "latents": ["2", 0],
                                                          "noise_mode": "const", "noise_seed": 0}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "t"}},
    }


@pytest.mark.parametrize("mutate,message", [
    (lambda p: p["2"]["inputs"].update(count=0), "smaller than the minimum"),
    (lambda p: p["3"]["inputs"].update(noise_mode="loud"), "not one of the choices"),
    (lambda p: p["3"]["inputs"].update(latents=["1", 0]), "wants GLE_LATENT but node 1 output 0 is GLE_GENERATOR"),
    (lambda p: p["3"]["inputs"].pop("latents"), "required input 'latents' is missing"),
    (lambda p: p["2"].update(class_type="NoSuchNode"), "unknown node type"),
    (lambda p: p["1"]["inputs"].update(model="nope.pkl"), "not one of the choices"),
    (lambda p: p["2"]["inputs"].update(generator=["3", 0]), "cycle"),
    (lambda p: p.pop("4"), "no output node"),
])
def test_executor_rejects_bad_workflows(tmp_path, mutate, message):
    prompt = _tiny_prompt()
    mutate(prompt)
    with pytest.raises(WorkflowError, match=message):
        run_prompt(prompt, CLASSES, str(tmp_path))


def test_executor_runs_only_what_outputs_need(tmp_path):
    prompt = _tiny_prompt()
    prompt["9"] = {"class_type": "NoSuchNodeButUnused", "inputs": {}}
    with pytest.raises(WorkflowError, match="unknown node type"):
        run_prompt(prompt, CLASSES, str(tmp_path))  # unknown types are refused up front, like ComfyUI
    del prompt["9"]
    prompt["5"] = {"class_type": "GLESampleLatents", "inputs": {"generator": ["1", 0], "seed": 1, "count": 0,
                                                               "truncation_psi": 0.7}}
    run_prompt(prompt, CLASSES, str(tmp_path))  # node 5 feeds no output: never validated nor run
    assert sorted(os.listdir(tmp_path)) == ["t_00001_.png"]
    run_prompt(prompt, CLASSES, str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["t_00001_.png", "t_00002_.png"]

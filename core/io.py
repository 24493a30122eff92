"""Saving and loading the pack's own artefacts as safetensors + JSON metadata (never pickle)."""
from __future__ import annotations

import json

from safetensors.torch import save_file

from .errors import IncompatibleInputError
from .formats.native import read_tagged
from .ops.catalog import Catalog

CATALOG_TAG = "gan-local-edit-catalog"
CATALOG_VERSION = "1"


def save_catalog(catalog: Catalog, path: str) -> str:
    tensors = {"centroids": catalog.centroids, "feat_mean": catalog.feat_mean, "feat_std": catalog.feat_std}
    layers = list(catalog.contributions)
    for i, name in enumerate(layers):
        tensors[f"contribution.{i}"] = catalog.contributions[name]
    meta = {"format": CATALOG_TAG, "format_version": CATALOG_VERSION, "layer": catalog.layer,
            "styled_layers": json.dumps(layers), "labels": json.dumps({k: list(v) for k, v in catalog.labels.items()}),
            "meta": json.dumps(catalog.meta, sort_keys=True)}
    save_file({k: v.detach().float().cpu().contiguous() for k, v in tensors.items()}, path, metadata=meta)
    return path


def load_catalog(path: str, generator=None) -> Catalog:
    """Read a catalog; with ``generator``, refuse one built for another model."""
    meta, tensors = read_tagged(path, CATALOG_TAG, CATALOG_VERSION, f"{path} is not a GAN Local Edit catalog",
                                what=f"catalog {path}")
    layers = json.loads(meta["styled_layers"])
    cat = Catalog(layer=meta["layer"], centroids=tensors["centroids"], feat_mean=tensors["feat_mean"],
                  feat_std=tensors["feat_std"],
                  contributions={name: tensors[f"contribution.{i}"] for i, name in enumerate(layers)},
                  labels={k: tuple(v) for k, v in json.loads(meta["labels"]).items()}, meta=json.loads(meta["meta"]))
    if generator is not None:
        cat.check_generator(generator)
        if [l.name for l in generator.styled_layers()] != layers:
            raise IncompatibleInputError("the catalog's layers do not match this generator's")
    return cat


DIRECTIONS_TAG = "gan-local-edit-directions"
DIRECTIONS_VERSION = "1"


def save_directions(directions, path: str) -> str:
    meta = {"format": DIRECTIONS_TAG, "format_version": DIRECTIONS_VERSION, "space": directions.space,
            "part": directions.part, "scale": repr(float(directions.scale)),
            "meta": json.dumps(directions.meta, sort_keys=True)}
    save_file({"vectors": directions.vectors.detach().float().cpu().contiguous()}, path, metadata=meta)
    return path


def load_directions(path: str, generator=None):
    """Read directions; with ``generator``, refuse those of another model or latent layout."""
    from .ops.directions import Directions
    meta, tensors = read_tagged(path, DIRECTIONS_TAG, DIRECTIONS_VERSION,
                                f"{path} is not a GAN Local Edit directions file", what=f"directions file {path}")
    d = Directions(space=meta["space"], vectors=tensors["vectors"], part=meta.get("part", ""),
                   scale=float(meta["scale"]), meta=json.loads(meta["meta"]))
    if generator is not None:
        d.check_generator(generator)
    return d


UNITS_TAG = "gan-local-edit-units"
UNITS_VERSION = "1"


def save_units(table, path: str) -> str:
    """A GLE_UNITS table (GAN Dissection ranking, IoUs, draw values) with its generator's identity."""
    tensors = {"quantiles": table.quantiles}
    for i, c in enumerate(table.concepts):
        tensors[f"ranking.{i}"], tensors[f"iou.{i}"] = table.ranking[c], table.iou[c]
    meta = {"format": UNITS_TAG, "format_version": UNITS_VERSION, "layer": table.layer,
            "concepts": json.dumps(table.concepts), "meta": json.dumps(table.meta, sort_keys=True)}
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, path, metadata=meta)
    return path


def load_units(path: str, generator=None):
    """Read a unit table; with ``generator``, refuse one dissected on another model."""
    from .ops.dissect import UnitTable
    meta, t = read_tagged(path, UNITS_TAG, UNITS_VERSION, f"{path} is not a GAN Local Edit unit table",
                          what=f"unit table {path}")
    concepts = json.loads(meta["concepts"])
    table = UnitTable(layer=meta["layer"], quantiles=t["quantiles"].float(),
                      ranking={c: t[f"ranking.{i}"].long() for i, c in enumerate(concepts)},
                      iou={c: t[f"iou.{i}"].float() for i, c in enumerate(concepts)}, meta=json.loads(meta["meta"]))
    if generator is not None:
        table.check_generator(generator)
    return table

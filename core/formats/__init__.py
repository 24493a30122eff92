"""Checkpoint readers: one entry point that recognises a file by its content."""
from .loader import load_generator, sniff_format, convert_checkpoint, resolve_device
from .native import save_generator, read_metadata

__all__ = ["load_generator", "sniff_format", "convert_checkpoint", "save_generator", "read_metadata",
           "resolve_device"]

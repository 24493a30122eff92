"""Running the pack's workflows without the ComfyUI editor: in-process, or against a server."""

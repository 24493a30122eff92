"""Run code on a pretend GPU, on a machine without one, to catch device mix-ups.

Why: CI has no GPU, yet a GPU user meets "Expected all tensors to be on the same device" the moment
an operation creates a tensor on the CPU (``torch.tensor(...)``, ``torch.arange(n)``, a CPU random
generator) and combines it with the generator's CUDA tensors. Here every tensor that would live on
the GPU is a ``FakeCudaTensor``: it keeps real CPU data inside, so data-dependent code (``.item()``,
k-means, argmax, optimisers, autograd) runs for real, while any op that meets a CPU tensor of one or
more dimensions raises the error a GPU would (0-dim CPU tensors are allowed, as on a GPU; so are CPU
index tensors in indexing ops, and copies). The fake tensors report ``device == meta``, not cuda: a
CPU-only torch has no CUDA device guard, and indexing a tensor that claims CUDA fails inside torch
before any Python hook runs. Code written against ``generator.device`` behaves the same either way.

    from fake_cuda import fake_cuda, to_fake_cuda
    with fake_cuda() as device:            # device == torch.device("meta"), the fake GPU
        g = to_fake_cuda(copy.deepcopy(generator))
        out = operation(g, ...)            # raises on a CPU tensor meeting a fake GPU one
        assert out.device == device        # (or .type == "cpu" where the op returns CPU results)

Inside ``fake_cuda()``, factories asked for ``device="cuda"`` (or the fake device) make fake tensors,
``.to("cuda")`` and ``.cuda()`` move to the fake device, ``.cpu()`` returns a plain tensor, ``.numpy()``
on a fake tensor fails as on a GPU, and ``torch.Generator(device="cuda")`` gives a generator that only
fake-device factories accept (a CPU generator given to a GPU factory fails, as on a GPU). Not
supported: ``torch.inference_mode()`` around fake tensors (views of inference tensors); run ops under
``torch.no_grad()`` or plainly.
"""
from __future__ import annotations

import contextlib
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

FAKE_DEVICE = torch.device("meta")
_aten = torch.ops.aten
# Ops that legitimately take CPU and CUDA tensors together on a real GPU.
_CROSS_DEVICE_OK = {_aten.copy_.default, _aten._to_copy.default, _aten.index.Tensor,
                    _aten.index_put_.default, _aten.index_put.default, _aten._index_put_impl_.default}
_cuda_generators: "weakref.WeakSet" = weakref.WeakSet()


class FakeCudaTensor(torch.Tensor):
    """A tensor that says it is on cuda:0 and holds its values in a CPU tensor (``self._data``)."""

    @staticmethod
    def __new__(cls, data: torch.Tensor, requires_grad: bool = False):
        out = torch.Tensor._make_wrapper_subclass(
            cls, data.shape, strides=data.stride(), storage_offset=data.storage_offset(), dtype=data.dtype,
            layout=data.layout, device=FAKE_DEVICE, requires_grad=requires_grad)
        out._data = data
        return out

    __torch_function__ = torch._C._disabled_torch_function_impl

    def __repr__(self):
        return f"FakeCudaTensor({self._data!r})"

    def __deepcopy__(self, memo):
        copy = FakeCudaTensor(self._data.clone(), requires_grad=self.requires_grad)
        if getattr(self, "_is_param", False):
            copy._is_param = True
        memo[id(self)] = copy
        return copy

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        return _run(func, args, kwargs or {})


def _is_cuda(device) -> bool:
    """'cuda' and 'meta' both name the fake device (see the module docstring for why it reports 'meta')."""
    return device is not None and torch.device(device).type in ("cuda", "meta")


def _check_generator(func, kwargs, wants_cuda: bool):
    gen = kwargs.get("generator")
    if gen is None:
        return
    # The dispatcher hands over a new Python object for the same generator: compare states instead.
    state = gen.get_state()
    gen_is_cuda = any(torch.equal(state, g.get_state()) for g in _cuda_generators)
    if gen_is_cuda != wants_cuda:
        want, have = ("cuda", "cpu") if wants_cuda else ("cpu", "cuda")
        raise RuntimeError(f"Expected a '{want}' device type for generator but found '{have}' ({func})")


def _run(func, args, kwargs):
    flat, _ = tree_flatten((args, kwargs))
    tensors = [t for t in flat if isinstance(t, torch.Tensor)]
    fakes = [t for t in tensors if isinstance(t, FakeCudaTensor)]
    device_kw = kwargs.get("device")
    wants_cuda = _is_cuda(device_kw) or (bool(fakes) and device_kw is None)
    if fakes and func not in _CROSS_DEVICE_OK:
        cpu = [t for t in tensors if not isinstance(t, FakeCudaTensor) and t.dim() > 0]
        if cpu:
            raise RuntimeError("Expected all tensors to be on the same device, but found at least two devices, "
                               f"{FAKE_DEVICE} (standing in for cuda) and cpu! (in {func}: a CPU tensor of shape {tuple(cpu[0].shape)})")
    _check_generator(func, kwargs, wants_cuda)
    if _is_cuda(device_kw):
        kwargs = {**kwargs, "device": torch.device("cpu")}
    unwrapped_args, unwrapped_kwargs = tree_map(lambda t: t._data if isinstance(t, FakeCudaTensor) else t,
                                                (args, kwargs))
    out = func(*unwrapped_args, **unwrapped_kwargs)
    if func._schema.is_mutable and fakes and func.__name__.split(".")[0].endswith("_"):
        return args[0]                                  # in place: the CPU data inside args[0] changed
    if not wants_cuda:
        return out
    return tree_map(lambda t: FakeCudaTensor(t) if isinstance(t, torch.Tensor) else t, out)


class _FakeCudaMode(TorchDispatchMode):
    """Routes every op through ``_run``. It takes the dispatcher's FAKE mode slot because torch skips
    its CUDA initialisation (which fails on a CPU-only build) while a mode holds that slot."""

    def __init__(self):
        super().__init__()
        self._mode_key = torch._C._TorchDispatchModeKey.FAKE

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return _run(func, args, kwargs or {})


_REAL_GENERATOR = torch.Generator


class _GeneratorType(type):
    """Calling it makes a generator; a 'cuda' one is a CPU generator tagged as CUDA."""

    def __call__(cls, device="cpu"):
        gen = _REAL_GENERATOR()
        if _is_cuda(device):
            _cuda_generators.add(gen)
        return gen

    def __instancecheck__(cls, obj):
        return isinstance(obj, _REAL_GENERATOR)


class _FakeGenerator(metaclass=_GeneratorType):
    """Stands in for ``torch.Generator`` inside ``fake_cuda()`` (still a type, for annotations)."""


_REAL = {"to": torch.Tensor.to, "cuda": torch.Tensor.cuda, "tensor": torch.tensor, "as_tensor": torch.as_tensor}


def _tensor_to(self, *args, **kwargs):
    """``Tensor.to``: torch's own fails before dispatch when a CPU tensor is sent to CUDA on a CPU build."""
    device, dtype, non_blocking, memory_format = torch._C._nn._parse_to(*args, **kwargs)
    if not _is_cuda(device) or isinstance(self, FakeCudaTensor):
        return _REAL["to"](self, *args, **kwargs)
    moved = _REAL["to"](self, dtype=dtype or self.dtype, copy=True)
    return FakeCudaTensor(moved.detach(), requires_grad=self.requires_grad)


def _tensor_cuda(self, device=None, non_blocking=False, memory_format=torch.preserve_format):
    return _tensor_to(self, FAKE_DEVICE)


def _make_factory(real):
    def factory(data, *args, device=None, **kwargs):
        out = real(data, *args, **kwargs)
        return _tensor_to(out, device) if _is_cuda(device) else out
    return factory


@contextlib.contextmanager
def fake_cuda():
    """Within: ``device="cuda"`` means the fake CUDA device. Yields ``torch.device("cuda", 0)``."""
    torch.Generator = _FakeGenerator
    torch.Tensor.to, torch.Tensor.cuda = _tensor_to, _tensor_cuda
    torch.tensor, torch.as_tensor = _make_factory(_REAL["tensor"]), _make_factory(_REAL["as_tensor"])
    try:
        with _FakeCudaMode():
            yield FAKE_DEVICE
    finally:
        torch.Generator = _REAL_GENERATOR
        torch.Tensor.to, torch.Tensor.cuda = _REAL["to"], _REAL["cuda"]
        torch.tensor, torch.as_tensor = _REAL["tensor"], _REAL["as_tensor"]


def to_fake_cuda(obj):
    """A module (in place, returned) or a tensor (a new fake CUDA tensor) moved to the fake device."""
    if isinstance(obj, torch.nn.Module):
        for module in obj.modules():          # not Module._apply: it would re-wrap parameters as plain ones
            for name, p in module._parameters.items():
                if p is not None and not isinstance(p, FakeCudaTensor):
                    fake = FakeCudaTensor(p.detach(), requires_grad=p.requires_grad)
                    fake._is_param = True         # isinstance(fake, nn.Parameter) holds
                    module._parameters[name] = fake
            for name, b in module._buffers.items():
                if b is not None and not isinstance(b, FakeCudaTensor):
                    module._buffers[name] = FakeCudaTensor(b)
        return obj
    if isinstance(obj, FakeCudaTensor):
        return obj
    return FakeCudaTensor(obj.detach(), requires_grad=obj.requires_grad)

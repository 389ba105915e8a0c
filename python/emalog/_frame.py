"""One training step as a safetensors frame, built with one copy of each tensor."""
import json

import numpy as np

_NUMPY_DTYPES = {
    np.dtype("float64"): "F64", np.dtype("float32"): "F32", np.dtype("float16"): "F16",
    np.dtype("int64"): "I64", np.dtype("int32"): "I32", np.dtype("int16"): "I16", np.dtype("int8"): "I8",
    np.dtype("uint64"): "U64", np.dtype("uint32"): "U32", np.dtype("uint16"): "U16", np.dtype("uint8"): "U8",
    np.dtype("bool"): "BOOL",
}


def _torch():
    try:
        import torch
        return torch
    except ImportError:
        return None


def _torch_dtypes(torch):
    return {
        torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
        torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
        torch.bool: "BOOL",
    }


class Tensors(dict):
    """A step's tensors by name, with entries for the frame's `__metadata__` (a rank's layout),
    and the names of the module's buffers among them when they come from a module."""
    metadata = {}
    buffer_names = None


def tensors_of(state):
    """A flat {name: tensor or array} from an nn.Module, a state_dict or a dict of numpy arrays."""
    if isinstance(state, Tensors):
        return state
    if hasattr(state, "state_dict") and callable(state.state_dict):
        state = state.state_dict()
    if not hasattr(state, "items"):
        raise TypeError(f"log.step wants an nn.Module, a state_dict or a dict of numpy arrays, not {type(state).__name__}")
    return dict(state.items())


class Frame:
    """A step's safetensors layout (header and where each tensor goes), filled into any buffer."""

    def __init__(self, state, step):
        self.torch = _torch()
        tensors = tensors_of(state)
        entries, self.layout, offset = {}, [], 0
        for name in sorted(tensors):
            value = tensors[name]
            if self.torch is not None and isinstance(value, self.torch.Tensor):
                if type(value).__name__ == "DTensor":
                    raise TypeError(f"tensor {name!r} is a DTensor, and this Logger keeps one log of the whole state "
                                    "(sharded=False): pass each tensor's full_tensor(), or let every rank log its own "
                                    "shards (sharded=True, the default in a torch.distributed job)")
                dtypes = _torch_dtypes(self.torch)
                if value.dtype not in dtypes:
                    raise TypeError(f"tensor {name!r} has dtype {value.dtype}, which safetensors cannot hold")
                dtype, shape, nbytes = dtypes[value.dtype], list(value.shape), value.numel() * value.element_size()
            else:
                array = np.asarray(value)
                if array.dtype not in _NUMPY_DTYPES:
                    raise TypeError(f"tensor {name!r} has dtype {array.dtype}, which safetensors cannot hold")
                value = array
                dtype, shape, nbytes = _NUMPY_DTYPES[array.dtype], list(array.shape), array.nbytes
            entries[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + nbytes]}
            self.layout.append((name, value, offset, nbytes))
            offset += nbytes
        entries["__metadata__"] = {**getattr(tensors, "metadata", {}), "step": str(int(step))}
        header = json.dumps(entries, separators=(",", ":")).encode()
        # Padded as if the step had 20 digits (then to 8 bytes: data aligned, as safetensors writes
        # it), so a run's frames keep one size and reuse one shared-memory slot.
        width = len(header) + max(0, 20 - len(str(int(step))))
        self.header = header + b" " * (width - len(header) + (-width % 8))
        self.start = 8 + len(self.header)
        self.size = self.start + offset

    def fill(self, buffer):
        """Writes the frame into `buffer` (writable, `size` bytes): one copy of each tensor (a GPU
        tensor straight from the device)."""
        view = memoryview(buffer)
        view[:8] = len(self.header).to_bytes(8, "little")
        view[8:self.start] = self.header
        torch = self.torch
        whole = None
        for name, value, at, nbytes in self.layout:
            if nbytes == 0:
                continue
            if torch is not None and isinstance(value, torch.Tensor):
                if whole is None:
                    whole = torch.frombuffer(buffer, dtype=torch.uint8)
                # As bytes on both sides: a slot at any offset takes any dtype (a view of the
                # buffer as float32 would need the offset to be a multiple of 4). A non-contiguous
                # tensor is made contiguous first (its own copy); a GPU tensor's bytes come
                # straight from the device.
                source = value.detach().reshape(-1)
                if not source.is_contiguous():
                    source = source.contiguous()
                whole[self.start + at:self.start + at + nbytes].copy_(source.view(torch.uint8))
            else:
                np.frombuffer(buffer, dtype=np.uint8, count=nbytes, offset=self.start + at)[:] = \
                    np.ascontiguousarray(value).reshape(-1).view(np.uint8)


def build(state, step, spares=None):
    """The frame's bytes (a bytearray). `spares`: a list of frames already sent, one of which is
    reused when it has the right size (a fresh bytearray of hundreds of MB costs a page fault
    per 4 KiB)."""
    frame = Frame(state, step)
    buffer = None
    while spares:
        candidate = spares.pop()
        if len(candidate) == frame.size:
            buffer = candidate
            break
    if buffer is None:
        buffer = bytearray(frame.size)
    frame.fill(buffer)
    return buffer


def write_file(state, step, path):
    """Writes the step as a safetensors file at `path`, filled in place through a memory map."""
    import mmap
    import os
    frame = Frame(state, step)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.ftruncate(fd, frame.size)
        with mmap.mmap(fd, frame.size) as mapped:
            frame.fill(mapped)
    finally:
        os.close(fd)


def metrics_line(step, metrics):
    """One metrics JSON line (bytes, with its newline) for `metrics` at `step`. A "step" key (a
    common habit) must be the same step; it is not a metric."""
    values = {"step": int(step)}
    for key, value in metrics.items():
        if hasattr(value, "item"):
            value = value.item()
        if key == "step":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(step):
                raise ValueError(f"metrics has 'step': {value!r}, but this is step {int(step)}: leave 'step' out of "
                                 "metrics (the step is the first argument)")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"metric {key!r} is {type(value).__name__}; metrics are numbers")
        values[str(key)] = float(value)
    return (json.dumps(values, allow_nan=True) + "\n").encode()

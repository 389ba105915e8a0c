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


def tensors_of(state):
    """A flat {name: tensor or array} from an nn.Module, a state_dict or a dict of numpy arrays."""
    if hasattr(state, "state_dict") and callable(state.state_dict):
        state = state.state_dict()
    if not hasattr(state, "items"):
        raise TypeError(f"log.step wants an nn.Module, a state_dict or a dict of numpy arrays, not {type(state).__name__}")
    return dict(state.items())


def build(state, step):
    """The frame's bytes (a bytearray): header, then each tensor's bytes in name order. A tensor on
    a GPU is copied once, straight into the frame; a CPU tensor or array is copied once too."""
    torch = _torch()
    tensors = tensors_of(state)
    entries, layout, offset = {}, [], 0
    for name in sorted(tensors):
        value = tensors[name]
        if torch is not None and isinstance(value, torch.Tensor):
            dtypes = _torch_dtypes(torch)
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
        layout.append((name, value, offset, nbytes))
        offset += nbytes
    entries["__metadata__"] = {"step": str(int(step))}
    header = json.dumps(entries, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)  # data 8-byte aligned, as safetensors writes it
    start = 8 + len(header)
    frame = bytearray(start + offset)
    frame[:8] = len(header).to_bytes(8, "little")
    frame[8:start] = header
    if torch is not None and layout:
        frame_tensor = torch.frombuffer(frame, dtype=torch.uint8) if len(frame) else None
    for name, value, at, nbytes in layout:
        if nbytes == 0:
            continue
        if torch is not None and isinstance(value, torch.Tensor):
            target = frame_tensor[start + at:start + at + nbytes].view(value.dtype).view(value.shape)
            target.copy_(value.detach())
        else:
            np.frombuffer(frame, dtype=np.uint8, count=nbytes, offset=start + at)[:] = \
                np.ascontiguousarray(value).reshape(-1).view(np.uint8)
    return frame


def metrics_line(step, metrics):
    """One metrics JSON line (bytes, with its newline) for `metrics` at `step`."""
    values = {"step": int(step)}
    for key, value in metrics.items():
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"metric {key!r} is {type(value).__name__}; metrics are numbers")
        values[str(key)] = float(value)
    return (json.dumps(values, allow_nan=True) + "\n").encode()

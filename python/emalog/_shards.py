"""Each rank's part of a sharded model, in a torch.distributed job.

Every rank's Logger writes its own log, `PATH/rank-RRRRR.emalog`, with the slices of the model
this rank holds: a DTensor's local shard (FSDP2's `fully_shard`, tensor parallelism, several mesh
dimensions, uneven and empty shards), an `emalog.Slice` a script cuts itself, and, on rank 0
only, every plain tensor (held whole by every rank: DDP, buffers). A slice held by several ranks
(`Replicate`) is stored by one of them. The first step of each Logger carries the layout in its
`__metadata__["emalog.shard"]`: each slice's whole shape and where it starts. emalog readers
given the folder put the model back together, bit-identical to an unsharded log.
"""
import json

from . import _frame


class Slice:
    """A slice of a larger tensor that this rank holds, for sharding that is not a DTensor
    (Megatron-style, DeepSpeed): `tensor` is the slice, `shape` the whole tensor's shape and
    `offset` the slice's first index in each dimension."""

    def __init__(self, tensor, shape, offset):
        self.tensor = tensor
        self.shape = [int(d) for d in shape]
        self.offset = [int(o) for o in offset]
        if len(self.shape) != len(self.offset) or len(self.shape) != len(tensor.shape):
            raise ValueError(f"emalog.Slice: the slice has {len(tensor.shape)} dimensions, shape {len(self.shape)} "
                             f"and offset {len(self.offset)}; they must agree")
        for d, (whole, start, held) in enumerate(zip(self.shape, self.offset, tensor.shape)):
            if start < 0 or start + int(held) > whole:
                raise ValueError(f"emalog.Slice: in dimension {d} the slice [{start}, {start + int(held)}) is not "
                                 f"inside the whole tensor's {whole}")


def world():
    """(rank, world_size) of the torch.distributed job this process is in, else None."""
    try:
        import torch.distributed as dist
    except ImportError:
        return None
    if not (dist.is_available() and dist.is_initialized()):
        return None
    return dist.get_rank(), dist.get_world_size()


def _dtensor_type():
    try:
        from torch.distributed.tensor import DTensor
        return DTensor
    except ImportError:
        return None


def _root_coordinate(mesh, rank):
    """Whether `rank` is in the first copy of `mesh` in its root mesh: a submesh (FSDP's dp mesh
    inside a dp x tp mesh) exists once per coordinate of the root's other dimensions, and its
    tensors are replicated across those copies. None when torch does not say (every copy stores)."""
    root = None
    try:
        root = mesh._get_root_mesh()
    except Exception:
        try:
            from torch.distributed.device_mesh import _mesh_resources
            root = _mesh_resources.get_root_mesh(mesh)
        except Exception:
            return None
    if root is None or root is mesh:
        return True
    ranks = root.mesh
    members = set(int(r) for r in mesh.mesh.flatten().tolist())
    where = (ranks == rank).nonzero()
    if len(where) != 1:
        return None
    coordinate = [int(c) for c in where[0].tolist()]
    for dim in range(ranks.dim()):
        if coordinate[dim] == 0:
            continue
        moved = list(coordinate)
        inside = False
        for j in range(ranks.shape[dim]):
            if j == coordinate[dim]:
                continue
            moved[dim] = j
            if int(ranks[tuple(moved)]) in members:
                inside = True
                break
        if not inside:  # a dimension of the root the submesh is copied along: only copy 0 stores
            return False
    return True


class Sharding:
    """Turns each step's state into this rank's tensors, and says (once) which slices they are."""

    def __init__(self, rank, world_size):
        self.rank = int(rank)
        self.world_size = int(world_size)
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank must be in 0..world_size-1, not {self.rank} of {self.world_size}")
        self.plan = None  # name -> ("dtensor" | "slice" | "plain", whole shape, offset) for the tensors this rank stores
        self.layout_sent = False

    def _decide(self, tensors):
        DTensor = _dtensor_type()
        plan = {}
        for name, value in tensors.items():
            if DTensor is not None and isinstance(value, DTensor):
                mesh, placements = value.device_mesh, value.placements
                coordinate = mesh.get_coordinate()
                if coordinate is None:
                    continue  # this rank is not in the tensor's mesh
                stores = True
                for dim, placement in enumerate(placements):
                    if placement.is_partial():
                        raise ValueError(f"tensor {name!r} is a DTensor with a Partial placement: reduce it before "
                                         "log.step()")
                    if placement.is_replicate() and coordinate[dim] != 0:
                        stores = False
                copy_zero = _root_coordinate(mesh, self.rank)
                if copy_zero is False:
                    stores = False
                if not stores:
                    continue
                from torch.distributed.tensor._utils import compute_local_shape_and_global_offset
                local_shape, offset = compute_local_shape_and_global_offset(value.shape, mesh, placements)
                local = value.to_local()
                if tuple(local.shape) != tuple(local_shape):
                    raise ValueError(f"tensor {name!r}: its local shard has shape {tuple(local.shape)}, but its placements "
                                     f"{placements} give {tuple(local_shape)}; emalog cannot say which slice it is")
                plan[name] = ("dtensor", [int(d) for d in value.shape], [int(o) for o in offset])
            elif isinstance(value, Slice):
                plan[name] = ("slice", value.shape, value.offset)
            elif self.rank == 0:
                plan[name] = ("plain", None, None)
        return plan

    def local(self, state):
        """This rank's tensors of `state` (an nn.Module, a state_dict), the first call's with the layout."""
        tensors = _frame.tensors_of(state)
        if self.plan is None:
            self.plan = self._decide(tensors)
        out = _frame.Tensors()
        if hasattr(state, "named_buffers") and callable(state.named_buffers):
            out.buffer_names = {name for name, _ in state.named_buffers()}
        slices = {}
        for name, (kind, shape, offset) in self.plan.items():
            if name not in tensors:
                raise ValueError(f"tensor {name!r} was in the first step's state and is missing now: every step holds "
                                 "the same tensors")
            value = tensors[name]
            if kind == "dtensor":
                value = value.to_local()
            elif kind == "slice":
                value = value.tensor
            out[name] = value
            if kind != "plain" and list(value.shape) != shape:
                slices[name] = {"shape": shape, "offset": offset}
        if not self.layout_sent:
            out.metadata = {"emalog.shard": json.dumps({"rank": self.rank, "ranks": self.world_size, "tensors": slices},
                                                       separators=(",", ":"))}
            self.layout_sent = True
        return out

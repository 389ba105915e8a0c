"""Sharded training on CPU (gloo, torchrun): every rank's Logger writes its shards to
PATH/rank-RRRRR.emalog, and every reader given PATH answers for the whole model, bit for bit as the
unsharded log rank 0 writes of the same training (each step's full_tensor(), sharded=False)."""
import os
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available():
    pytest.skip("torch.distributed is not available", allow_module_level=True)

import emalog  # noqa: E402

TRAIN = textwrap.dedent('''
    import os, sys, torch, torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import DTensor
    from torch.distributed.tensor.parallel import parallelize_module, ColwiseParallel, RowwiseParallel
    import emalog

    out, steps, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)

    class M(torch.nn.Module):
        def __init__(s):
            super().__init__()
            s.a = torch.nn.Linear(4, 13)   # 13 rows: 5, 5, 3 over three ranks
            s.b = torch.nn.Linear(13, 6)
            s.n = torch.nn.LayerNorm(6)
            s.register_buffer("seen", torch.zeros((), dtype=torch.int64))

        def forward(s, x):
            s.seen += 1
            return s.n(s.b(torch.relu(s.a(x))))

    m = M()
    if mode == "ddp":  # replicated: rank 0 stores the model, the other ranks' logs hold no tensor
        m = torch.nn.parallel.DistributedDataParallel(m)
    elif world == 4:  # FSDP over dp, tensor parallel over tp: _StridedShard, Shard(1), Replicate
        mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("dp", "tp"))
        parallelize_module(m, mesh["tp"], {"a": ColwiseParallel(use_local_output=False), "b": RowwiseParallel()})
        fully_shard(m, mesh=mesh["dp"])
    else:
        fully_shard(m, mesh=init_device_mesh("cpu", (world,)))
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    tracks = ["0.9", "name=w,decay=0.99,schedule=warmup"]
    log = emalog.Logger(os.path.join(out, "sharded"), ema=tracks, raw_every=4)
    whole = emalog.Logger(os.path.join(out, "whole.emalog"), ema=tracks, raw_every=4, sharded=False) if rank == 0 else None
    for step in range(steps):
        torch.manual_seed(100 + step)
        loss = m(torch.randn(8, 4)).pow(2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        model = m.module if mode == "ddp" else m
        log.step(step, model, {"loss": loss.item()})
        full = {k: (v.full_tensor() if isinstance(v, DTensor) else v).detach().clone() for k, v in model.state_dict().items()}
        if whole is not None:
            whole.step(step, full, {"loss": loss.item()})
    log.close()
    if whole is not None:
        whole.close()
    dist.destroy_process_group()
''')


def train(tmp_path, ranks, steps=10, mode="fsdp"):
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(emalog.__file__)), OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(ranks),
                        str(script), str(tmp_path), str(steps), mode], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    return str(tmp_path / "sharded"), str(tmp_path / "whole.emalog")


def assert_same(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
        assert torch.equal(a[name], b[name]), name


@pytest.mark.parametrize("ranks", [3, 4])
def test_every_rank_logs_its_shards_and_the_folder_reads_whole(tmp_path, ranks):
    folder, whole = train(tmp_path, ranks)
    logs = sorted(os.listdir(folder))
    assert logs == [f"rank-{r:05d}.emalog" for r in range(ranks)]
    for track in ["ema-0.9", "w"]:
        assert_same(emalog.load_shadow(folder, ema=track), emalog.load_shadow(whole, ema=track))
    # raw_every=4: step 8's raw weights are kept on every rank, step 9's (the last) too.
    assert_same(emalog.load_shadow(folder, ema="w", step=8), emalog.load_shadow(whole, ema="w", step=8))
    assert_same(emalog.load_raw(folder, step=8), emalog.load_raw(whole, step=8))
    info = emalog.info(folder)
    assert info["ranks"] == ranks and info["tensors"] == 7 and info["last_step"] == 9
    # A replicated slice is stored once: with 4 ranks, rank 1 (rank 0's tensor-parallel peer) holds
    # only its slices of the two parallel layers, not the LayerNorm, b.bias or the buffer.
    held = [emalog.info(os.path.join(folder, name))["tensors"] for name in logs]
    assert held == ([7, 6, 6] if ranks == 3 else [7, 3, 6, 3])
    audit = subprocess.run([emalog.binary(), "audit", "--db", folder], capture_output=True, text=True)
    assert audit.returncode == 0 and "clean" in audit.stdout, audit.stdout + audit.stderr
    assert emalog.metrics(folder, keys=["loss"], as_pandas=False)["loss"] == \
        emalog.metrics(whole, keys=["loss"], as_pandas=False)["loss"]


def test_a_replicated_model_is_stored_once_and_the_other_ranks_keep_their_steps(tmp_path):
    folder, whole = train(tmp_path, 2, mode="ddp")
    assert_same(emalog.load_shadow(folder, ema="w"), emalog.load_shadow(whole, ema="w"))
    assert_same(emalog.load_raw(folder, step=8), emalog.load_raw(whole, step=8))
    assert [emalog.info(os.path.join(folder, name))["tensors"] for name in sorted(os.listdir(folder))] == [7, 0]
    assert emalog.info(os.path.join(folder, "rank-00001.emalog"))["steps"] == 10

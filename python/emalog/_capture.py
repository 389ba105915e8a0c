"""A step's weights into a shared-memory slot, copied in `log.step()` or off the training thread.

With `copy="at_step"` (the Logger's default) every CPU step is copied into its slot before
`log.step()` returns. With `copy="background"`, `log.step()` takes the step's tensors as they are
(with each one's version counter), reserves a slot and returns; the Logger's writer thread copies
the tensors into the slot while the next forward and backward run, then checks every version
counter is unchanged (a tensor written while or before it was copied would make a step of two
states: refused, never sent), and only then hands the slot to emalog. Any torch optimizer's
`step()` waits, through a global step pre-hook, until the copies of the steps already logged are
done. Writes that bypass the version counters (through `.data`, a numpy view) cannot be seen.

What `background` still copies on the training thread: steps under `SMALL_STEP`, a module's
buffers (BatchNorm's running statistics change during forward), numpy arrays (no version counter),
tensors under 64 KiB of a plain state_dict, and every step of a loop where no optimizer stepped
since the last `log.step()`.

A GPU tensor is copied on a side stream into the slot (page-locked with cudaHostRegister) without
blocking the training stream; the training stream waits for that copy on the device (an event: at
once with `at_step`, at the optimizer with `background`), and the writer thread waits for it on
the host before handing the slot over. (Written for CUDA; the machines this package is tested on
have no GPU.)
"""
import threading

import numpy as np

from . import _frame

SMALL = 64 << 10
SMALL_STEP = 4 << 20


class WeightsChanged(Exception):
    """A tensor changed between `log.step()` and its copy into the slot."""


class Job:
    """One step on its way: the frame's header, the slot, and what to copy where."""

    def __init__(self, step, frame, slot, parts, wait_for_copy):
        self.step, self.frame, self.slot, self.parts = step, frame, slot, parts
        self.wait_for_copy = wait_for_copy  # log.step() returns once the writer thread has copied it
        self.later = []  # (offset, tensor, version): copied by the writer thread
        self.now = []  # (offset, bytes as a uint8 array or tensor): copied already or cloned
        self.event = None  # a CUDA event after the side stream's copies
        self.host_done = False  # the writer thread's copies are done
        self.device_checked = False  # the GPU tensors were checked unchanged while their copy could run
        self.failed = None  # a WeightsChanged found by the optimizer pre-hook


def _bytes_view(torch, value):
    source = value.detach().reshape(-1)
    if not source.is_contiguous():
        source = source.contiguous()
    return source.view(torch.uint8)


class Capture:
    """Builds jobs for the Logger's writer thread and keeps the optimizer pre-hook."""

    def __init__(self):
        self.torch = _frame._torch()
        self.pending = []  # jobs whose copies are not done (oldest first)
        self.condition = threading.Condition()
        self.hook = None
        self.side_stream = None
        self.stopped = False  # the writer thread has ended: nothing pending will be copied
        # Optimizer steps seen (the pre-hook counts them), and their count at the last log.step():
        # a step is copied off the training thread only when an optimizer stepped since the last
        # one, i.e. something waits for the copy before the weights change. A loop that updates its
        # weights by hand has each step copied before log.step() returns.
        self.optimizer_steps = 0
        self.optimizer_steps_at_last_log = 0
        self._install_hook()
        self.small_step = SMALL_STEP  # steps up to this many bytes are copied in log.step() itself

    def prepare(self, state, step, acquire, parts):
        """A job for `state` at `step` in a slot `acquire(nbytes)` gives; the small and unversioned
        tensors are copied now, the rest is left to `fill`."""
        torch = self.torch
        frame = _frame.Frame(state, step)
        slot = acquire(frame.size)
        job = Job(step, frame, slot, parts, wait_for_copy=self.optimizer_steps == self.optimizer_steps_at_last_log)
        self.optimizer_steps_at_last_log = self.optimizer_steps
        if frame.size <= self.small_step and not self._on_gpu(frame):
            # Copied here, at once (`at_step`, or a small step: cheaper than waking the writer
            # thread for it and waiting for it at the optimizer; its Python code and ours share one GIL).
            frame.fill(slot.memory)
            job.host_done = job.device_checked = True
            return job
        is_module = hasattr(state, "state_dict") and callable(state.state_dict)
        buffers = {name for name, _ in state.named_buffers()} if is_module and hasattr(state, "named_buffers") else set()
        if isinstance(state, _frame.Tensors) and state.buffer_names is not None:  # a rank's part of a module
            is_module, buffers = True, state.buffer_names
        for name, value, at, nbytes in frame.layout:
            if nbytes == 0:
                continue
            offset = frame.start + at
            if torch is not None and isinstance(value, torch.Tensor):
                if value.is_cuda or not (name in buffers or (not is_module and nbytes < SMALL)):
                    job.later.append((offset, value, value._version))
                else:
                    job.now.append((offset, _bytes_view(torch, value).clone()))
            else:
                job.now.append((offset, np.ascontiguousarray(value).reshape(-1).view(np.uint8).copy()))
        if any(value.is_cuda for _, value, _ in job.later):
            self._copy_on_side_stream(job)
            if self.small_step == float("inf"):  # copy="at_step": every later op of the training stream waits for it
                torch.cuda.current_stream().wait_event(job.event)
                job.device_checked = True
        with self.condition:
            self.pending.append(job)
        return job

    def wait_for(self, job):
        """Until the writer thread has copied `job` (or has ended)."""
        with self.condition:
            self.condition.wait_for(lambda: self.stopped or job.host_done)

    def _on_gpu(self, frame):
        torch = self.torch
        return torch is not None and any(isinstance(v, torch.Tensor) and v.is_cuda for _, v, _, _ in frame.layout)

    def _copy_on_side_stream(self, job):
        torch = self.torch
        if self.side_stream is None:
            self.side_stream = torch.cuda.Stream()
        self._pin(job.slot)
        whole = torch.frombuffer(job.slot.memory, dtype=torch.uint8)
        self.side_stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.side_stream):
            for offset, value, _ in job.later:
                if value.is_cuda:
                    source = _bytes_view(torch, value)
                    whole[offset:offset + source.numel()].copy_(source, non_blocking=True)
            job.event = torch.cuda.Event()
            job.event.record(self.side_stream)

    def _pin(self, slot):
        if slot.pinned:
            return
        torch = self.torch
        view = torch.frombuffer(slot.memory, dtype=torch.uint8)
        result = torch.cuda.cudart().cudaHostRegister(view.data_ptr(), slot.capacity, 0)
        status = int(result[0]) if isinstance(result, tuple) else int(result)
        slot.pinned = view.data_ptr() if status == 0 else 0  # unregistered when the slot is unmapped

    def fill(self, job):
        """Copies the job's tensors into its slot (the writer thread) and checks none changed since
        `log.step()`; raises `WeightsChanged` naming the first that did."""
        if job.host_done:
            return  # copied by log.step()
        torch = self.torch
        frame, memory = job.frame, job.slot.memory
        try:
            memory[:8] = len(frame.header).to_bytes(8, "little")
            memory[8:frame.start] = frame.header
            whole = torch.frombuffer(memory, dtype=torch.uint8) if torch is not None and (job.later or job.now) else None
            for offset, data in job.now:
                if isinstance(data, np.ndarray):
                    np.frombuffer(memory, dtype=np.uint8, count=data.size, offset=offset)[:] = data
                else:
                    whole[offset:offset + data.numel()].copy_(data)
            for offset, value, _ in job.later:
                if not value.is_cuda:
                    source = _bytes_view(torch, value)
                    whole[offset:offset + source.numel()].copy_(source)
            del whole
            self.check(job, cuda=False)
            with self.condition:
                job.host_done = True
                self.condition.notify_all()
            if job.event is not None:
                job.event.synchronize()
                with self.condition:
                    if not job.device_checked:  # no optimizer step was launched since: safe to check now
                        job.device_checked = True
                        self.check(job, cuda=True)
                    if job.failed is not None:
                        raise job.failed
        finally:
            self.done(job)

    def check(self, job, cuda):
        """Raises `WeightsChanged` when a tensor (on the GPU or not, as `cuda`) changed since `log.step()`."""
        for offset, value, version in job.later:
            if value.is_cuda == cuda and value._version != version:
                name = next(n for n, _, at, _ in job.frame.layout if job.frame.start + at == offset)
                raise WeightsChanged(f"tensor {name!r} of step {job.step} changed between log.step() and its copy into "
                                     "shared memory (an in-place change outside optimizer.step(), e.g. in forward or by "
                                     "hand); that step is not logged. Pass the nn.Module to log.step() (its buffers "
                                     "are then copied at once), or call log.step() where nothing changes the weights "
                                     "until the next optimizer.step()")

    def done(self, job):
        with self.condition:
            job.host_done = True
            if job in self.pending:
                self.pending.remove(job)
            self.condition.notify_all()

    def wait(self):
        """Before an optimizer step (and at close): every logged step's host copies are done, and the
        current CUDA stream waits on the device for the GPU copies (their tensors checked unchanged
        first: the optimizer's own changes come after)."""
        with self.condition:
            for job in self.pending:
                if job.event is not None and not job.device_checked:
                    job.device_checked = True
                    try:
                        self.check(job, cuda=True)
                    except WeightsChanged as error:
                        job.failed = error  # the writer thread raises it: this is the user's optimizer.step()
                    self.torch.cuda.current_stream().wait_event(job.event)
            self.condition.wait_for(lambda: self.stopped or all(job.host_done for job in self.pending))

    def stop(self):
        """The writer thread has ended: nobody waits for what it will not copy."""
        with self.condition:
            self.stopped = True
            self.pending.clear()
            self.condition.notify_all()

    def _install_hook(self):
        torch = self.torch
        if self.hook is not None or torch is None:
            return
        capture = self

        def before_optimizer_step(optimizer, args, kwargs):
            capture.optimizer_steps += 1
            capture.wait()

        from torch.optim.optimizer import register_optimizer_step_pre_hook
        self.hook = register_optimizer_step_pre_hook(before_optimizer_step)

    def close(self):
        if self.hook is not None:
            self.hook.remove()
            self.hook = None

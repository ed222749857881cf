"""embcomp tables as a PyTorch module: CompressedEmbedding.

    from embcomp.torch import CompressedEmbedding
    emb = CompressedEmbedding("hash", cardinalities, dim=16, ratio=1000, optimizer="adam", lr=0.01)
    E = emb(ids)                        # ids int64 [B, F] -> float32 [B, F, d]
    loss = model(E, dense).mean()
    loss.backward()                     # the table's backward and its optimizer step run here
    dense_optimizer.step()              # torch.optim sees only the dense model

The table trains with its own optimizer, fused into the backward as FBGEMM's TBE does: each
backward through the module applies one step (and the method's after_step: cafe's sketch
inserts, ...), so the user's torch.optim handles only the dense model and the table holds no
torch parameters. With fused=False the backward only keeps the gradients (`gradients`), and
step() applies them: for gradient checks, or a loop that steps at another time. Every call
copies nothing: ids, embeddings and their gradients are shared between torch and the library.

Multi-process training (torch.distributed, gloo on CPU): give process_group (or True for the
default group). The table is small enough to replicate: every process keeps a whole copy, and
each backward all-gathers the processes' ids and output gradients (dE, the per-position
gradient of the table's output), averages the gradients over the processes as
DistributedDataParallel does for the dense model, and runs the table's backward and step on
the global batch, in rank order. With each process's loss the mean over its own samples, every
replica thus takes the step a single process takes on the mean loss of the global batch (bit
for bit where the process count is a power of two, as the test checks). Each process's local
batch must have the same number of samples.

state_dict() holds the table's C++ checkpoint (the same bytes as Table.save_bytes(), a uint8
tensor under "checkpoint"); load_state_dict restores it (CheckpointError for a damaged one,
InvalidArgument for a table of another method or shape). The optimizer's state is not in it.
The module pickles (torch.save(module), copy.deepcopy) the same way: the table as its
checkpoint, the optimizer as its hyper-parameters.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

import numpy as np
import torch

from . import _embcomp

_OPTIMIZERS = {
    "sgd": _embcomp.SGD,
    "adagrad": _embcomp.Adagrad,
    "adam": _embcomp.Adam,
    "rowwise_adagrad": _embcomp.RowwiseAdagrad,
}


# The layer's cost is mostly cold code: after a step has streamed its batch through the caches,
# each torch or Python call of the next step runs from memory. The module's step costs 14 us more
# than the same work through the bare table with warm caches, but 87 us more after 32 MB were
# streamed between steps (batch 16), and 144 us at batch 4096, where the C++ step takes 1.6 ms
# (python/benchmarks/overhead.py). So the common case makes as few calls as it can: one torch call
# per array (numpy()) and checks of NumPy attributes, torch's own checks (with their clear
# messages) only for any other array, and one call into the library per backward
# (Table.train_step). With them the 144 us became 107-117 us.
_INT64 = np.dtype(np.int64)
_FLOAT32 = np.dtype(np.float32)


def _ids_array(ids: torch.Tensor, num_fields: int) -> np.ndarray:
    """The NumPy view of ids [B, F] (no copy); TypeError/ValueError for what the table refuses."""
    try:
        array = ids.numpy()  # TypeError or RuntimeError: not a tensor in CPU memory
    except (AttributeError, TypeError, RuntimeError):
        return _checked_ids_array(ids, num_fields)
    if (type(ids) is torch.Tensor and array.dtype is _INT64 and array.ndim == 2
            and array.shape[1] == num_fields and array.flags.c_contiguous):
        return array
    return _checked_ids_array(ids, num_fields)


def _checked_ids_array(ids: torch.Tensor, num_fields: int) -> np.ndarray:
    """_ids_array's checks in torch's words, and a contiguous copy where ids is strided."""
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"ids: expected a torch.Tensor, got {type(ids).__name__}")
    if ids.device.type != "cpu":
        raise ValueError(f"ids: expected a CPU tensor, got one on {ids.device}")
    if ids.dtype != torch.int64:
        raise TypeError(f"ids: expected dtype torch.int64, got {ids.dtype} (ids.long())")
    if ids.dim() != 2 or ids.shape[1] != num_fields:
        raise ValueError(f"ids: expected shape [batch, {num_fields}], got {list(ids.shape)}")
    return ids.detach().contiguous().numpy()


class _TableFunction(torch.autograd.Function):
    """E = table.forward(ids); its backward runs the table's backward (and the fused step)."""

    @staticmethod
    def forward(ctx, anchor: torch.Tensor, module: "CompressedEmbedding", ids: np.ndarray):
        out = module.table.forward(ids)
        ctx.module = module
        ctx.ids = ids
        return torch.from_numpy(out.reshape(ids.shape[0], ids.shape[1], -1))

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        ctx.module._backward(ctx.ids, _gradient_array(grad_out))
        return None, None, None


def _gradient_array(grad_out: torch.Tensor) -> np.ndarray:
    """dE [B*F x d] as a NumPy view of grad_out [B, F, d], converted only where it must be."""
    try:
        array = grad_out.numpy()  # RuntimeError where it requires grad (create_graph=True)
    except RuntimeError:
        array = None
    if array is None or array.dtype is not _FLOAT32 or not array.flags.c_contiguous:
        array = grad_out.detach().to(torch.float32).contiguous().numpy()
    return array.reshape(-1, array.shape[-1])


class CompressedEmbedding(torch.nn.Module):
    """An embcomp table of any method as the embedding layer: ids int64 [B, F] -> [B, F, d].

    spec, cardinalities, dim, ratio, seed: as embcomp.Table. optimizer: "sgd", "adagrad",
    "adam" or "rowwise_adagrad" (or an embcomp.Optimizer), with lr. fused: step inside backward
    (default), or keep the gradients for step().
    """

    def __init__(
        self,
        spec: str,
        cardinalities: Iterable[int],
        dim: int = 16,
        ratio: float = 1.0,
        seed: int = 0,
        optimizer: Any = "adam",
        lr: float = 0.01,
        fused: bool = True,
        counts: Optional[Iterable[Any]] = None,
        process_group: Any = None,
    ) -> None:
        super().__init__()
        self.table = _embcomp.Table(spec, list(cardinalities), dim, ratio, seed, counts)
        if isinstance(optimizer, str):
            if optimizer not in _OPTIMIZERS:
                raise ValueError(
                    f"optimizer: expected one of {sorted(_OPTIMIZERS)}, got {optimizer!r}"
                )
            optimizer = _OPTIMIZERS[optimizer](lr)
        elif not isinstance(optimizer, _embcomp.Optimizer):
            raise TypeError(f"optimizer: expected a name or an embcomp.Optimizer, got {optimizer!r}")
        self.optimizer = optimizer
        self.fused = fused
        if process_group is True:
            process_group = torch.distributed.group.WORLD
        self.process_group = process_group
        self.gradients: Optional[_embcomp.Gradients] = None
        # Autograd calls a Function's backward only when an input requires grad: this empty
        # tensor is that input. It is not a parameter, so torch.optim never sees it.
        self._anchor = torch.empty(0, requires_grad=True)

    @classmethod
    def from_table_configs(cls, configs: Iterable[Any], **kwargs: Any) -> "CompressedEmbedding":
        """One field per TorchRec-style table config (objects or dicts with num_embeddings and
        embedding_dim, all of one width)."""

        def get(config: Any, key: str) -> Any:
            return config[key] if isinstance(config, dict) else getattr(config, key)

        configs = list(configs)
        if not configs:
            raise ValueError("from_table_configs: no table configs")
        dims = {int(get(c, "embedding_dim")) for c in configs}
        if len(dims) != 1:
            raise ValueError(
                f"from_table_configs: every table must have one embedding_dim, got {sorted(dims)}"
            )
        cardinalities = [int(get(c, "num_embeddings")) for c in configs]
        return cls(cardinalities=cardinalities, dim=dims.pop(), **kwargs)

    @property
    def num_fields(self) -> int:
        return self.table.num_fields

    @property
    def dim(self) -> int:
        return self.table.dim

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        array = _ids_array(ids, self.table.num_fields)
        batch = array.shape[0]
        if self.training and torch.is_grad_enabled():
            return _TableFunction.apply(self._anchor, self, array)
        out = self.table.lookup(array)
        return torch.from_numpy(out.reshape(batch, self.table.num_fields, self.table.dim))

    def _backward(self, ids: np.ndarray, dE: np.ndarray) -> None:
        if self.process_group is not None:
            ids, dE = self._gather_batch(ids, dE)
        if self.fused:
            self.gradients = self.table.train_step(ids, dE, self.optimizer, self.gradients)
        else:
            self.gradients = self.table.backward(ids, dE, self.gradients)

    def _gather_batch(self, ids: np.ndarray, dE: np.ndarray):
        """The global batch: every process's ids [B, F] and dE [B*F, d], in rank order."""
        group = self.process_group
        world = torch.distributed.get_world_size(group)
        sizes = [torch.zeros(1, dtype=torch.int64) for _ in range(world)]
        torch.distributed.all_gather(sizes, torch.tensor([ids.shape[0]]), group=group)
        if len({int(size) for size in sizes}) != 1:
            raise ValueError(
                "CompressedEmbedding: the processes' batches differ in size "
                f"({[int(size) for size in sizes]}); give every process the same number of samples"
            )
        local = [torch.from_numpy(ids), torch.from_numpy(dE)]
        gathered = []
        for tensor in local:
            parts = [torch.empty_like(tensor) for _ in range(world)]
            torch.distributed.all_gather(parts, tensor, group=group)
            gathered.append(torch.cat(parts))
        return gathered[0].numpy(), (gathered[1] / world).numpy()

    def step(self) -> None:
        """Applies the last backward's gradients and the method's after_step."""
        if self.gradients is None:
            raise RuntimeError("CompressedEmbedding.step: no backward has run")
        self.optimizer.step(self.gradients)
        self.table.after_step(self.optimizer)

    def __getstate__(self):
        """For pickling (torch.save of the module, copy.deepcopy): the table travels as its
        checkpoint, the optimizer as its hyper-parameters (a copy starts without its state),
        the last gradients not at all."""
        state = self.__dict__.copy()
        state["gradients"] = None
        return state

    def memory(self) -> dict:
        """The table's memory report, its optimizer state included."""
        return self.table.memory(self.optimizer)

    def extra_repr(self) -> str:
        return (
            f"'{self.table.spec}', fields={self.table.num_fields}, dim={self.table.dim}, "
            f"ratio={self.table.ratio}, optimizer={self.optimizer.name}, fused={self.fused}"
        )

    def _save_to_state_dict(self, destination, prefix, keep_vars):  # noqa: D401 (torch hook)
        data = np.frombuffer(self.table.save_bytes(), dtype=np.uint8)
        destination[prefix + "checkpoint"] = torch.from_numpy(data.copy())

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):
        key = prefix + "checkpoint"
        if key not in state_dict:
            missing_keys.append(key)
            return
        data = state_dict[key].cpu().numpy().astype(np.uint8, copy=False).tobytes()
        loaded = _embcomp.load_bytes(data)
        if loaded.spec != self.table.spec or loaded.cardinalities != self.table.cardinalities or (
            loaded.dim != self.table.dim
        ):
            raise _embcomp.InvalidArgument(
                f"load_state_dict: the checkpoint holds {loaded!r}, this module {self.table!r}"
            )
        self.table = loaded
        self.gradients = None
        for name in state_dict:
            if name.startswith(prefix) and name != key and "." not in name[len(prefix) :]:
                unexpected_keys.append(name)

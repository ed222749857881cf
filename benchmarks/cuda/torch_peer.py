"""PyTorch on the same GPU as embcomp_cuda_bench, on the same shapes: a 4 GiB fp32 table of
8 fields x 2^23 ids, d = 16, uniform random ids; lookup (F.embedding, and index_select on the
weight for the bare gather), and one training step
(lookup, backward with a sparse gradient, then torch.optim.SGD or SparseAdam). Rows per second,
the median of 5 repetitions of 20 calls after a warm-up, timed with CUDA events.
Run by scripts/gpu-check.sh next to the C++ benchmark."""
import statistics
import sys

import torch

FIELDS, DIM, ITER = 8, 16, 20


def seconds_per_call(body):
    body()
    torch.cuda.synchronize()
    times = []
    for _ in range(5):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(ITER):
            body()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1000.0 / ITER)
    return statistics.median(times)


def main():
    small = "--small" in sys.argv
    per_field = (1 << 23) // (16 if small else 1)
    rows = FIELDS * per_field
    device = torch.device("cuda")
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}; "
          f"table {rows} x {DIM} ({rows * DIM * 4 / 2**30:.2f} GiB)")
    offsets = torch.arange(FIELDS, device=device) * per_field
    for batch in (8192, 1 << 17):
        positions = batch * FIELDS
        ids = (torch.randint(0, per_field, (batch, FIELDS), device=device) + offsets).reshape(-1)
        table = torch.nn.Embedding(rows, DIM, sparse=True, device=device)
        with torch.no_grad():
            rate = positions / seconds_per_call(lambda: torch.nn.functional.embedding(ids, table.weight))
            print(f"torch lookup (B*F = {positions}): {rate:.4g} rows/s")
            # The same gather without the embedding op, to tell its overhead from the gather's.
            weight = table.weight.detach()
            rate = positions / seconds_per_call(lambda: weight.index_select(0, ids))
            print(f"torch index_select (B*F = {positions}): {rate:.4g} rows/s")
        grad = torch.randn(positions, DIM, device=device) * 1e-3
        for name, optimizer in (("sgd", torch.optim.SGD(table.parameters(), lr=0.01)),
                                ("sparse adam", torch.optim.SparseAdam(table.parameters(), lr=0.01))):
            def step():
                optimizer.zero_grad(set_to_none=True)
                table(ids).backward(grad)
                optimizer.step()
            print(f"torch train step {name} (B*F = {positions}): "
                  f"{positions / seconds_per_call(step):.4g} rows/s")
        del table


if __name__ == "__main__":
    main()

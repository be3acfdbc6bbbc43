"""Where the time of one Numba CUDA host call goes (4M float32, superspike spike_bwd), vs CuPy.

    python benchmarks/launcher_overhead.py     # needs a GPU and CuPy

Prints medians in microseconds: the whole call, the kernel alone, the output allocation, the
zero-copy wrapping of CuPy arrays, the CuPy expression as a baseline, and the call with out=.
"""

import statistics
import time

import cupy as cp
import numpy as np
from numba import cuda

import surrogen.numba_cuda.superspike as k

n = 1 << 22
x = cp.asarray(np.random.default_rng(0).normal(0, 1.5, n).astype(np.float32))
g = cp.ones_like(x)
nx, ng = cuda.as_cuda_array(x), cuda.as_cuda_array(g)


def t(fn, r=30):
    for _ in range(3):
        fn()
    cuda.synchronize()
    ts = []
    for _ in range(r):
        s = time.perf_counter()
        fn()
        cuda.synchronize()
        ts.append(time.perf_counter() - s)
    return statistics.median(ts) * 1e6


out = cuda.device_array(n, np.float32)
kern = k._KERNELS["spike_bwd"]["float32"]
blocks = (n + 127) // 128
print("full spike_bwd us", t(lambda: k.spike_bwd(nx, ng, 20.0)))
print("kernel only (prealloc) us", t(lambda: kern[blocks, 128](nx, ng, np.float32(20.0), out)))
print("device_array alloc us", t(lambda: cuda.device_array(n, np.float32)))
print("as_cuda_array x2 us", t(lambda: (cuda.as_cuda_array(x), cuda.as_cuda_array(g))))
print("cupy baseline us", t(lambda: g * (1 / (1 + 20.0 * cp.abs(x)) ** 2)))
sk = kern.specialize(nx, ng, np.float32(20.0), out)
print("specialized kernel us", t(lambda: sk[blocks, 128](nx, ng, np.float32(20.0), out)))
cfg = kern[blocks, 128]
print("preconfigured kernel us", t(lambda: cfg(nx, ng, np.float32(20.0), out)))
out2 = cuda.device_array(n, np.float32)
print("spike_bwd with out= us", t(lambda: k.spike_bwd(nx, ng, 20.0, out=out2)))

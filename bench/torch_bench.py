#!/usr/bin/python3
"""torch_bench.py - issue 6's workloads in PyTorch, for bench/run.sh.

Same data (the IDX files in DATA_DIR), same networks, same hyper-parameters
and normalisation as bench/bench.c (its workload table), written the way a
PyTorch user writes them: nn.Sequential of Linear/Sigmoid, F.cross_entropy
(batch mean), torch.optim.SGD; and issue 10's W3 with
torch.optim.SGD(momentum=0.9) and W3 and W4 with torch.optim.Adam, each with
its defaults but the learning rate (records W3-momentum, W3-adam, W4-adam,
as bench.c's); and issue 11's MNIST MLP recipe (record MLP.epoch, see
bench_mlp).  Each workload runs with
torch.set_num_threads(1) and (2); bench/report.awk counts the faster one.
W3's full 30000-iteration run is timed once, at the thread count whose epoch
was faster.  A 2-thread training unit is first probed on a twentieth of its
steps and only run in full when it could be the faster (probe_or_run).  The
initial weights have nncc's distribution, not its exact values (torch's RNG).
Prints the same tab-separated R and I records as bench.c.

usage: torch_bench.py DATA_DIR [--budget SECONDS] [--mlp | --no-mlp]

--mlp runs the MLP recipe only and --no-mlp all but it: bench/run.sh runs
the MLP in turns with nncc's (two rounds), so that both see the same
spells of load from the machine's other users.
"""
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

N_PIXELS = 784


def load_idx(path):
    """An IDX file (raw or .gz) as a numpy array of uint8."""
    import gzip
    import os
    opener = open
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path, opener = path + ".gz", gzip.open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def normalise(train, test, kind):
    """docs/data.md: scale = p/255 in double; standardize = per-pixel mean and
    one std of the centred training set, in double, rounded once to float."""
    tr = train.reshape(len(train), -1).astype(np.float64)
    te = test.reshape(len(test), -1).astype(np.float64)
    if kind == "scale":
        return (tr / 255.0).astype(np.float32), (te / 255.0).astype(np.float32)
    mean = tr.sum(axis=0) / len(tr)
    std = float(np.sqrt(((tr - mean) ** 2).sum() / tr.size)) or 1.0
    return ((tr - mean) / std).astype(np.float32), ((te - mean) / std).astype(np.float32)


def flop_sample(widths):
    """Useful FLOP per training sample (issue 6): forward, dW, dX but first."""
    pairs = list(zip(widths[:-1], widths[1:]))
    return sum(2 * i * o * (3 if k else 2) for k, (i, o) in enumerate(pairs))


def flop_forward(widths):
    return sum(2 * i * o for i, o in zip(widths[:-1], widths[1:]))


def flop_train(widths, batch, steps):
    return steps * (batch * flop_sample(widths) + flop_forward(widths))


def record(work, threads, times, samples, flop, note=""):
    s = sorted(times)
    n = len(s)
    med = s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
    print(f"R\timpl=torch\twork={work}\tthreads={threads}\treps={n}\tmin={s[0]:.9g}"
          f"\tmed={med:.9g}\tsamples={samples}\tflop={flop:.6g}\tnote={note}", flush=True)


def reps(fn, budget, min_reps=3, max_reps=9):
    """Times fn() at least min_reps times, more while the budget allows."""
    times, spent = [], 0.0
    while len(times) < min_reps or (len(times) < max_reps and spent + times[-1] <= budget):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        spent += times[-1]
    return times


def probe_or_run(run, steps, t_ref):
    """Times run(steps), the unit of a workload.  With t_ref (the 1-thread
    time of the unit), first times a twentieth of it: when that projects
    to > 1.25 * t_ref, the thread count cannot be the faster one, and the
    projection is reported instead of a full run (2 OpenMP threads on a busy
    2-core machine can be 10-50x slower: minutes of benchmark for nothing).
    Returns (seconds for the unit, note)."""
    if t_ref is not None:
        k = max(steps // 20, 1)
        t0 = time.perf_counter()
        run(k)
        projected = (time.perf_counter() - t0) * steps / k
        if projected > 1.25 * t_ref:
            return projected, f"scaled from {k} steps (slower than 1 thread)"
    t0 = time.perf_counter()
    run(steps)
    return time.perf_counter() - t0, ""


def net(widths, scale):
    torch.manual_seed(1)
    layers = []
    for k, (i, o) in enumerate(zip(widths[:-1], widths[1:])):
        lin = nn.Linear(i, o)
        with torch.no_grad():
            lin.weight.normal_(0, scale)
            lin.bias.normal_(0, scale)
        layers.append(lin)
        if k + 2 < len(widths):
            layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


class Stream:
    """Consecutive batches in file order, wrapping around (like the driver)."""

    def __init__(self, x, y):
        self.x, self.y, self.pos = x, y, 0

    def next(self, k):
        n, p = len(self.x), self.pos
        self.pos = (p + k) % n
        if p + k <= n:
            return self.x[p:p + k], self.y[p:p + k]
        r = p + k - n
        return torch.cat((self.x[p:], self.x[:r])), torch.cat((self.y[p:], self.y[:r]))


def train_steps(model, opt, stream, batch, steps):
    for _ in range(steps):
        x, y = stream.next(batch)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


def bench_w3(tag, make_opt, xs, tr_y, te_y):
    """W3 (784-50-10, batch 20, 10 epochs of 3000 steps) with the optimizer
    make_opt(parameters): one epoch per thread count, then the full run at
    the faster one, and its test accuracy.  Returns the trained model."""
    w3 = [N_PIXELS, 50, 10]
    epochs, notes = {}, {1: "", 2: ""}
    for th in (1, 2):
        torch.set_num_threads(th)
        model = net(w3, 0.1)
        opt = make_opt(model.parameters())
        st = Stream(xs[0], tr_y)
        t, notes[th] = probe_or_run(lambda k: train_steps(model, opt, st, 20, k), 3000,
                                    epochs[1][0] if th == 2 else None)
        epochs[th] = [t]
    best = min(epochs, key=lambda th: epochs[th][0])
    torch.set_num_threads(best)
    model = net(w3, 0.1)
    opt = make_opt(model.parameters())
    st = Stream(xs[0], tr_y)
    t0 = t1 = time.perf_counter()
    for _ in range(10):
        train_steps(model, opt, st, 20, 3000)
        t2 = time.perf_counter()
        epochs[best].append(t2 - t1)
        t1 = t2
    for th in (1, 2):
        record(f"{tag}.epoch", th, epochs[th], 60000, flop_train(w3, 20, 3000),
               "a first epoch and the 10 of the full run" if th == best else notes[th])
    record(f"{tag}.full", best, [t1 - t0], 600000, flop_train(w3, 20, 30000),
           "once, at the thread count of the faster first epoch")
    with torch.inference_mode():
        acc = (model(xs[1]).argmax(1) == te_y).float().mean().item() * 100
    print(f"I\timpl=torch\tkey={tag}.test_accuracy\tthreads={best}\tvalue={acc:.2f}", flush=True)
    return model


def bench_w4(tag, make_opt, x, tr_y, budget):
    """W4 (784-800-10, batch 64, epochs of 938 steps) with the optimizer
    make_opt(parameters), at 1 and 2 threads, after 20 warm-up steps."""
    w4 = [N_PIXELS, 800, 10]
    t1 = None
    for th in (1, 2):
        torch.set_num_threads(th)
        model = net(w4, 0.05)
        opt = make_opt(model.parameters())
        st = Stream(x, tr_y)
        train_steps(model, opt, st, 64, 20)  # warm-up
        t, note = probe_or_run(lambda k: train_steps(model, opt, st, 64, k), 938, t1)
        times = [t]
        while not note and len(times) < 3 and sum(times) + times[-1] <= budget:
            t0 = time.perf_counter()
            train_steps(model, opt, st, 64, 938)
            times.append(time.perf_counter() - t0)
        record(f"{tag}.epoch", th, times, 938 * 64, flop_train(w4, 64, 938), note)
        t1 = t1 or min(times)


class Passes:
    """Whole passes over (x, y) in a fresh random order each (torch.randperm,
    seeded by torch.manual_seed), batches of up to `batch`, the last of a
    pass what it has left: what DataLoader(shuffle=True) hands out, by
    indexing the tensors instead of collating samples (faster than a
    DataLoader over a TensorDataset, so that torch's time is its training)."""

    def __init__(self, x, y, batch):
        self.x, self.y, self.batch = x, y, batch
        self.restart()

    def restart(self):
        self.perm, self.pos = torch.randperm(len(self.x)), 0

    def next(self):
        if self.pos == len(self.x):
            self.restart()
        idx = self.perm[self.pos:self.pos + self.batch]
        self.pos += len(idx)
        return self.x[idx], self.y[idx]


def mlp_net():
    """Issue 11's MNIST MLP: 784 -> dropout 0.2 -> 1024 relu -> dropout 0.5 ->
    1024 relu -> dropout 0.5 -> 10, He's initialisation (kaiming_normal_ with
    the gain of each layer's own activation: relu, then linear) and zero
    biases, as bench/nets/mlp.yaml."""
    torch.manual_seed(1)
    layers = [nn.Dropout(0.2)]
    for i, o, act in ((N_PIXELS, 1024, "relu"), (1024, 1024, "relu"), (1024, 10, "linear")):
        lin = nn.Linear(i, o)
        with torch.no_grad():
            nn.init.kaiming_normal_(lin.weight, mode="fan_in", nonlinearity=act)
            lin.bias.zero_()
        layers.append(lin)
        if act == "relu":
            layers += [nn.ReLU(), nn.Dropout(0.5)]
    return nn.Sequential(*layers)


def bench_mlp(x, y, budget, epochs=20, batch=128):
    """Issue 11's MNIST MLP recipe (bench/nets/mlp.yaml): mlp_net,
    nn.CrossEntropyLoss, torch.optim.Adam(lr=0.001) with CosineAnnealingLR
    over the run's epochs stepped per batch, batches of 128 shuffled every
    epoch (469 updates, the last of 96).  One epoch at 1 and 2 threads,
    after 20 warm-up updates and a fresh pass; the 2-thread epoch is probed
    first (probe_or_run).  nncc runs the same recipe for the same number of
    epochs, so the ratio of the epoch times is the ratio of the times to the
    target accuracy."""
    steps = (len(x) + batch - 1) // batch
    widths = [N_PIXELS, 1024, 1024, 10]
    fl = len(x) * flop_sample(widths) + steps * flop_forward(widths)
    t1 = None
    for th in (1, 2):
        torch.set_num_threads(th)
        model = mlp_net()
        model.train()
        loss_fn = nn.CrossEntropyLoss()
        opt = torch.optim.Adam(model.parameters(), lr=0.001)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps)
        data = Passes(x, y, batch)

        def run(k):
            for _ in range(k):
                xb, yb = data.next()
                opt.zero_grad()
                loss_fn(model(xb), yb).backward()
                opt.step()
                sched.step()

        run(20)  # warm-up
        data.restart()
        t, note = probe_or_run(run, steps, t1)
        times = [t]
        while not note and len(times) < 3 and sum(times) + times[-1] <= budget:
            t0 = time.perf_counter()
            run(steps)
            times.append(time.perf_counter() - t0)
        record("MLP.epoch", th, times, len(x), fl, note)
        t1 = t1 or min(times)


def blas_library():
    """The BLAS shared library torch has loaded (Debian's torch calls the
    system libblas.so.3: the reference BLAS unless OpenBLAS provides it)."""
    torch.ones(8, 8) @ torch.ones(8, 8)
    with open("/proc/self/maps") as f:
        libs = sorted({l.split()[-1] for l in f if "blas" in l.rsplit("/", 1)[-1]})
    return ", ".join(libs) or "unknown"


def main():
    data = sys.argv[1]
    budget = float(sys.argv[sys.argv.index("--budget") + 1]) if "--budget" in sys.argv else 8.0
    tr_x = load_idx(f"{data}/train-images-idx3-ubyte")
    tr_y = torch.from_numpy(load_idx(f"{data}/train-labels-idx1-ubyte").astype(np.int64))
    te_x = load_idx(f"{data}/t10k-images-idx3-ubyte")
    te_y = torch.from_numpy(load_idx(f"{data}/t10k-labels-idx1-ubyte").astype(np.int64))
    n = len(tr_x)
    print(f"I\timpl=torch\tkey=blas\tthreads=1\tvalue={blas_library()}", flush=True)
    if "--mlp" in sys.argv:
        # Issue 11: the MNIST MLP recipe, standardize (the only set it needs).
        x, _ = map(torch.from_numpy, normalise(tr_x, te_x, "standardize"))
        bench_mlp(x, tr_y, budget)
        return
    xs = {k: tuple(map(torch.from_numpy, normalise(tr_x, te_x, k))) for k in ("scale", "standardize")}

    # W1: softmax 784-10, full-batch gradient step, lr 0.3, standardize.
    w1 = [N_PIXELS, 10]
    for th in (1, 2):
        torch.set_num_threads(th)
        model = net(w1, 0.1)
        opt = torch.optim.SGD(model.parameters(), lr=0.3)
        st = Stream(xs["standardize"][0], tr_y)
        train_steps(model, opt, st, n, 1)  # warm-up
        times = reps(lambda: train_steps(model, opt, st, n, 1), budget)
        record("W1", th, times, n, flop_train(w1, n, 1))

    # W3: 784-50-10, batch 20, lr 0.3, scale.
    model = bench_w3("W3", lambda p: torch.optim.SGD(p, lr=0.3), xs["scale"], tr_y, te_y)

    # Inference with the trained 784-50-10: one image at a time, and tiles of 20.
    te = xs["scale"][1]
    fl = flop_forward([N_PIXELS, 50, 10]) * len(te)

    def infer(k):
        with torch.inference_mode():
            for at in range(0, len(te), k):
                model(te[at:at + k]).argmax(1)

    for th in (1, 2):
        torch.set_num_threads(th)
        infer(1)
        record("infer.1", th, reps(lambda: infer(1), budget / 2), len(te), fl)
        infer(20)
        record("infer.B", th, reps(lambda: infer(20), budget / 2), len(te), fl)

    # Issue 10: W3 with momentum (lr 0.03 = 0.3 * (1 - 0.9)) and with Adam.
    bench_w3("W3-momentum", lambda p: torch.optim.SGD(p, lr=0.03, momentum=0.9), xs["scale"],
             tr_y, te_y)
    bench_w3("W3-adam", lambda p: torch.optim.Adam(p, lr=0.001), xs["scale"], tr_y, te_y)

    # W4: 784-800-10, batch 64, lr 0.1, scale; and with Adam.
    bench_w4("W4", lambda p: torch.optim.SGD(p, lr=0.1), xs["scale"][0], tr_y, budget)
    bench_w4("W4-adam", lambda p: torch.optim.Adam(p, lr=0.001), xs["scale"][0], tr_y, budget)
    if "--no-mlp" not in sys.argv:
        bench_mlp(xs["standardize"][0], tr_y, budget)


if __name__ == "__main__":
    main()

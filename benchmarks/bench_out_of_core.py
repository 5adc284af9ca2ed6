"""Training from disk: throughput, scaling with the number of spectra, and memory.

Three measurements, each printed as numbers side by side from one run:

1. **Throughput**: training on a ``.npy`` memory map against the same spectra
   in memory, interleaved (memory, disk, memory, ...) so that drift of the
   machine affects both alike. Target: disk >= 0.8x memory.
2. **Time against number of spectra**: one epoch at n, 2n, 4n, ... spectra
   from disk. Linear scaling shows as constant seconds per 1,000 spectra.
3. **Peak memory against data size**: for each size, a fresh process fits
   one epoch on a memory map of that many bytes and encodes all of it, and
   reports its peak resident set (Linux's VmHWM). Flat memory shows as the
   same peak whatever the size.
4. **Peak memory of the analysis against data size**: for each size, a
   fresh process loads a model fitted beforehand, selects the informative
   latents with ``InformativeDimensionSelector(model, prefit=True)`` on the
   memory map, and writes the HTML report of the same map, as a user of
   the Python API would; it reports its peak resident set and how many
   times the archive was encoded. Flat memory, as in 3.

The spectra are :func:`~skspecrep.datasets.make_stellar_spectra` at SNR
100; large files repeat a generated block with fresh noise, which costs the
network the same work as new spectra.

Usage::

    python benchmarks/bench_out_of_core.py [--sizes-gb 0.125 0.25 0.5] [--n-pixels 2048]
        [--only throughput|scaling|memory|analysis]

The default sizes take about a minute; ``--sizes-gb 0.25 1 5`` is the
record below (about 12 minutes, and 5 GB of free disk in the temporary
folder).

Record
------
2 CPU cores like CI's (torch 2.13 CPU), spectra of 2,048 pixels, 8 latents,
batch 32, the network ``architecture="auto"`` builds for them, 2026-11-21:

1. Throughput, 3,000 spectra, median of 3: in memory 1,478 spectra/s,
   memory map 1,690 spectra/s: **1.14x** (target >= 0.8x). Both read
   through the same batch reader; the map is no slower because ``pread``
   from the page cache costs about what fancy indexing in memory does.
2. One epoch from disk: 0.59, 0.58, 0.59, 0.59 s per 1,000 spectra at
   1,000, 2,000, 4,000 and 8,000 spectra: **linear**.
3. Peak resident memory (VmHWM) of fit + transform:

   =======  =========  ===========
   file GB  spectra    peak RSS MB
   =======  =========  ===========
      0.25     30,517          571
      1.00    122,070          575
      5.00    610,351          592
   =======  =========  ===========

   **Flat**: a 5 GB memory map is trained on and encoded in under 600 MB
   (target: under 1.5 GB). About 430 MB of it is Python, numpy, torch and
   scikit-learn imported; the 5 GB run took 638 s.
   The first run of this benchmark found the peak growing with the file
   (574 MB at 0.25 GB, 830 MB at 1 GB, 1,651 MB at 5 GB): ``transform``
   kept one small array per chunk, which pinned the C heap between the
   chunk buffers. It now fills one preallocated array.
4. Peak resident memory of the analysis (2026-11-29): a model fitted on
   2,000 spectra (5 epochs) is loaded in a fresh process, which runs
   ``InformativeDimensionSelector(model, criterion="kl", prefit=True)`` on
   the memory map, then ``write_report`` of the map (which encodes it once
   more itself; the command line passes it the codes instead):

   =======  =========  ===========  =============  =======  =======
   file GB  spectra    selector MB  + report MB    encodes  seconds
   =======  =========  ===========  =============  =======  =======
      0.25     30,517          422            473        2       21
      1.00    122,070          446            490        2       74
      5.00    610,351          635            635        2      393
   =======  =========  ===========  =============  =======  =======

   The spectra never enter memory; what grows is the codes and their
   float64 copies in the selector (610,351 spectra x 8 latents: about 40 MB
   an array). Before (the code of 2026-11-28, same script, 0.25 and 1 GB
   only): 676 and 1,417 MB after the selector, 1,170 and 3,322 MB after the
   report, with 3 encodes: the selector validated the map whole and passed
   an array to ``encode``, whose in-memory path read all of it, and the
   report did the same with ``check_array``, its own ``transform`` and
   ``latent_traversal``'s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from skspecrep import SpectralAutoencoder
from skspecrep.datasets import make_stellar_spectra

MODEL = dict(n_components=8, batch_size=32, lr=2e-3, random_state=0)


def write_memmap(path: Path, n_rows: int, n_pixels: int, seed: int = 0) -> np.memmap:
    """A float32 .npy of n_rows spectra, written a block at a time.

    Written with file writes, not through a map, so that this process's
    resident memory does not grow with the file.
    """
    block, _, _ = make_stellar_spectra(
        min(n_rows, 2000), n_pixels=n_pixels, snr=np.inf, random_state=seed
    )
    block = block.astype(np.float32)
    rng = np.random.default_rng(seed)
    header = {"descr": "<f4", "fortran_order": False, "shape": (n_rows, n_pixels)}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        for start in range(0, n_rows, len(block)):
            noisy = block[: min(len(block), n_rows - start)]
            (noisy + rng.normal(0, 0.01, noisy.shape).astype(np.float32)).tofile(f)
    return np.load(path, mmap_mode="r")


def epoch_seconds(X, epochs: int = 1) -> float:
    ae = SpectralAutoencoder(max_epochs=epochs, **MODEL).fit(X)
    # fit also computes the mean spectrum and the per-latent KL over X:
    # count only the epochs, from skorch's own timing.
    return float(sum(ae.history_[:, "dur"]))


def throughput(folder: Path, n_rows: int, n_pixels: int, repeats: int) -> None:
    disk = write_memmap(folder / "throughput.npy", n_rows, n_pixels)
    memory = np.array(disk)
    times = {"memory": [], "disk": []}
    for _ in range(repeats):
        times["memory"].append(epoch_seconds(memory))
        times["disk"].append(epoch_seconds(disk))
    mem, dsk = (statistics.median(times[k]) for k in ("memory", "disk"))
    print(f"\n1. Training throughput, {n_rows} spectra x {n_pixels} px, median of {repeats}:")
    print(f"   in memory {n_rows / mem:8.0f} spectra/s")
    print(f"   memmap    {n_rows / dsk:8.0f} spectra/s   ratio {mem / dsk:.2f}x (target >= 0.8x)")


def scaling(folder: Path, n_rows: list[int], n_pixels: int) -> None:
    print("\n2. One epoch from disk against the number of spectra:")
    print(f"   {'spectra':>8} {'seconds':>8} {'s per 1000':>11}")
    big = write_memmap(folder / "scaling.npy", max(n_rows), n_pixels)
    for n in n_rows:
        seconds = epoch_seconds(big[:n])
        print(f"   {n:8d} {seconds:8.1f} {1000 * seconds / n:11.2f}")


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    Linux's VmHWM belongs to the address space the process has now; the
    ``ru_maxrss`` of a child started by fork and exec keeps the parent's
    peak from before the exec, so it is used only where VmHWM is missing.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory_child(path: str) -> None:
    X = np.load(path, mmap_mode="r")
    start = time.perf_counter()
    ae = SpectralAutoencoder(max_epochs=1, **MODEL).fit(X)
    codes = ae.transform(X)
    print(
        json.dumps(
            {
                "peak_rss_mb": peak_rss_mb(),
                "seconds": time.perf_counter() - start,
                "codes": list(codes.shape),
            }
        )
    )


def peak_memory(folder: Path, sizes_gb: list[float], n_pixels: int) -> None:
    print("\n3. Peak resident memory of fit (1 epoch) + transform, fresh process per size:")
    print(f"   {'file GB':>8} {'spectra':>8} {'peak RSS MB':>12} {'seconds':>8}")
    for gb in sizes_gb:
        n_rows = int(gb * 1e9 / (4 * n_pixels))
        path = folder / f"size_{gb:g}.npy"
        write_memmap(path, n_rows, n_pixels)
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(path)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        result = json.loads(out.strip().splitlines()[-1])
        print(f"   {gb:8.2f} {n_rows:8d} {result['peak_rss_mb']:12.0f} {result['seconds']:8.0f}")
        os.remove(path)


def analysis_child(path: str, model_path: str, out: str) -> None:
    import pickle

    import matplotlib

    matplotlib.use("Agg")
    from skspecrep import InformativeDimensionSelector
    from skspecrep.inspection import analyse
    from skspecrep.report import write_report

    X = np.load(path, mmap_mode="r")
    with open(model_path, "rb") as f:
        ae = pickle.load(f)
    encoded = []  # rows of X encoded by each call that read all of it
    for name in ("encode", "transform"):
        method = getattr(ae, name)

        def counted(Z, method=method):
            if len(Z) == len(X):
                encoded.append(len(Z))
            return method(Z)

        setattr(ae, name, counted)
    start = time.perf_counter()
    selector = InformativeDimensionSelector(ae, criterion="kl", prefit=True).fit(X)
    after_selector = peak_rss_mb()
    write_report(out, analyse(ae, X, selector=selector, random_state=0))
    print(
        json.dumps(
            {
                "peak_rss_mb_selector": after_selector,
                "peak_rss_mb": peak_rss_mb(),
                "seconds": time.perf_counter() - start,
                "full_encodes": len(encoded),
                "n_informative": int(selector.get_support().sum()),
            }
        )
    )


def analysis_memory(folder: Path, sizes_gb: list[float], n_pixels: int) -> None:
    import pickle

    print("\n4. Peak resident memory of selector (prefit model) + report, fresh process per size:")
    small = write_memmap(folder / "model_data.npy", 2000, n_pixels)
    ae = SpectralAutoencoder(max_epochs=5, **MODEL).fit(small)
    model_path = folder / "model.pkl"
    with open(model_path, "wb") as f:
        pickle.dump(ae, f)
    print(
        f"   {'file GB':>8} {'spectra':>8} {'selector MB':>12} {'+ report MB':>12} "
        f"{'encodes':>8} {'seconds':>8}"
    )
    for gb in sizes_gb:
        n_rows = int(gb * 1e9 / (4 * n_pixels))
        path = folder / f"size_{gb:g}.npy"
        write_memmap(path, n_rows, n_pixels)
        out = subprocess.run(
            [sys.executable, __file__, "--analysis-child", str(path), str(model_path),
             str(folder / "report")],
            check=True,
            capture_output=True,
            text=True,
        ).stdout  # fmt: skip
        r = json.loads(out.strip().splitlines()[-1])
        print(
            f"   {gb:8.2f} {n_rows:8d} {r['peak_rss_mb_selector']:12.0f} {r['peak_rss_mb']:12.0f} "
            f"{r['full_encodes']:8d} {r['seconds']:8.0f}"
        )
        os.remove(path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-pixels", type=int, default=2048)
    p.add_argument("--throughput-spectra", type=int, default=3000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--scaling-spectra", type=int, nargs="+", default=[1000, 2000, 4000, 8000])
    p.add_argument("--sizes-gb", type=float, nargs="+", default=[0.125, 0.25, 0.5])
    p.add_argument("--only", choices=["throughput", "scaling", "memory", "analysis"])
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--analysis-child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        peak_memory_child(args.child)
        return 0
    if args.analysis_child:
        analysis_child(*args.analysis_child)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.only in (None, "throughput"):
            throughput(folder, args.throughput_spectra, args.n_pixels, args.repeats)
        if args.only in (None, "scaling"):
            scaling(folder, args.scaling_spectra, args.n_pixels)
        if args.only in (None, "memory"):
            peak_memory(folder, args.sizes_gb, args.n_pixels)
        if args.only in (None, "analysis"):
            analysis_memory(folder, args.sizes_gb, args.n_pixels)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``bench/soak.py --trace``: tracemalloc snapshots and object counts of a gateway under load.

The traced gateway loads ``SITECUSTOMIZE`` (through ``PYTHONPATH``); SIGUSR1
makes it write a tracemalloc snapshot, object counts by type and malloc
figures, which ``print_growth`` compares between the end of the warm-up and
the end of the load.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import tempfile
import time
import tracemalloc
from pathlib import Path

# Loaded by the traced gateway (PYTHONPATH): SIGUSR1 writes a snapshot and object counts.
SITECUSTOMIZE = """
import gc, json, os, pickle, signal, tracemalloc
from collections import Counter
_dir = os.environ["SOAK_TRACE_DIR"]
def _dump(signum, frame):
    n = len([f for f in os.listdir(_dir) if f.startswith("types-")])
    gc.collect()
    if tracemalloc.is_tracing():
        with open(os.path.join(_dir, f"snap-{n}.pickle"), "wb") as out:
            pickle.dump(tracemalloc.take_snapshot(), out)
    counts = dict(Counter(type(o).__qualname__ for o in gc.get_objects()))
    counts["<traced bytes>"] = tracemalloc.get_traced_memory()[0]
    counts.update(_malloc())
    with open(os.path.join(_dir, f"types-{n}.json"), "w") as out:
        json.dump(counts, out)
    if not tracemalloc.is_tracing():
        tracemalloc.start(25)  # from now on: what is still allocated at the next dump
    open(os.path.join(_dir, f"done-{n}"), "w").close()
def _malloc():
    import ctypes
    class Info(ctypes.Structure):
        _fields_ = [(f, ctypes.c_size_t) for f in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return {}
    libc.mallinfo2.restype = Info
    info = libc.mallinfo2()
    return {"<malloc in use>": info.uordblks + info.hblkhd, "<malloc free>": info.fordblks}
signal.signal(signal.SIGUSR1, _dump)
"""


def trace_env(trace: Path | None) -> dict[str, str]:
    if trace is None:
        return {}
    trace.mkdir(parents=True, exist_ok=True)
    hook = Path(tempfile.mkdtemp(prefix="soak-trace-"))
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    path = os.pathsep.join(p for p in [str(hook), os.environ.get("PYTHONPATH", "")] if p)
    return {"PYTHONPATH": path, "SOAK_TRACE_DIR": str(trace.resolve())}


def snapshot(pid: int, trace: Path, n: int) -> None:
    """Ask the traced gateway for snapshot ``n`` and wait until it is written."""
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 300
    while not (trace / f"done-{n}").exists() and time.monotonic() < deadline:
        time.sleep(0.5)


def print_growth(trace: Path, top: int = 25) -> None:
    with (trace / "snap-1.pickle").open("rb") as b:
        last: tracemalloc.Snapshot = pickle.load(b)  # our own file
    skip = [tracemalloc.Filter(False, tracemalloc.__file__)]
    stats = last.filter_traces(skip).statistics("traceback")
    total = sum(s.size for s in stats)
    print(f"\ntracemalloc: {total / 2**20:.1f} MiB allocated after the warm-up and still live;")
    print(f"top {top} (size, blocks, where; most recent call first)")
    for stat in stats[:top]:
        print(f"  {stat.size / 1024:9.1f} KiB {stat.count:7d}")
        for line in stat.traceback.format(limit=8, most_recent_first=True)[::2]:
            print(f"      {line.strip()}")
    before = json.loads((trace / "types-0.json").read_text())
    after = json.loads((trace / "types-1.json").read_text())
    for key in ("<traced bytes>", "<malloc in use>", "<malloc free>"):
        if key in after:
            print(f"{key[1:-1]}: {before.get(key, 0) / 2**20:.1f} -> {after[key] / 2**20:.1f} MiB")
            before.pop(key, None), after.pop(key)
    grown = sorted(((after[k] - before.get(k, 0), k) for k in after), reverse=True)[:top]
    print("\nlive objects tracked by gc: largest growths by type")
    for diff, name in grown:
        print(f"  {diff:+8d} {name} ({after[name]})")

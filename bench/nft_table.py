#!/usr/bin/env python3
"""Cost of l4lbd's nftables table operations through libnftables (what src/nft/nftables.cpp
calls on the event loop): writing (one add+delete+define transaction) and listing a table of N
SNAT rules, in a fresh network namespace, timed inside one process (no process start).
Root; prints one JSON line per N. Usage: sudo bench/nft_table.py [N ...]"""
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time


def script(n):
    rules = "".join(f"\t\tmeta l4proto tcp ct original ip daddr 10.{(i >> 8) & 255}.{i & 255}.1 "
                    "ct original proto-dst 80 masquerade\n" for i in range(n))
    return ("add table inet l4lb\ndelete table inet l4lb\ntable inet l4lb {\n"
            "\tcomment \"managed by l4lbd\"\n\tchain postrouting {\n"
            "\t\ttype nat hook postrouting priority srcnat; policy accept;\n" + rules + "\t}\n}\n")


def child(sizes):
    lib = ctypes.CDLL("libnftables.so.1")
    lib.nft_ctx_new.restype = ctypes.c_void_p
    lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
    lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
    for fn in ("nft_ctx_buffer_output", "nft_ctx_buffer_error", "nft_run_cmd_from_buffer",
               "nft_ctx_get_output_buffer", "nft_ctx_get_error_buffer"):
        getattr(lib, fn).argtypes = [ctypes.c_void_p] + ([ctypes.c_char_p]
                                                           if fn == "nft_run_cmd_from_buffer" else [])
    ctx = lib.nft_ctx_new(0)
    lib.nft_ctx_buffer_output(ctx)
    lib.nft_ctx_buffer_error(ctx)

    def run(text):
        t = time.perf_counter()
        rc = lib.nft_run_cmd_from_buffer(ctx, text.encode())
        out = lib.nft_ctx_get_output_buffer(ctx)
        err = lib.nft_ctx_get_error_buffer(ctx)
        if rc != 0:
            raise SystemExit(err.decode())
        return time.perf_counter() - t, out

    for n in sizes:
        text = script(n)
        writes, lists = [], []
        for _ in range(5):
            writes.append(run(text)[0])
            dt, out = run("list table inet l4lb")
            lists.append(dt)
        print(json.dumps({"snat_rules": n, "write_ms_median": round(statistics.median(writes) * 1e3, 2),
                          "list_ms_median": round(statistics.median(lists) * 1e3, 2),
                          "listing_bytes": len(out)}), flush=True)
    run("delete table inet l4lb")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child([int(x) for x in sys.argv[2:]])
    else:
        ns = f"nftbench{os.getpid()}"
        subprocess.run(["ip", "netns", "add", ns], check=True)
        try:
            subprocess.run(["ip", "netns", "exec", ns, sys.executable, __file__, "--child"] +
                           (sys.argv[1:] or ["10", "100", "1000", "10000"]), check=True)
        finally:
            subprocess.run(["ip", "netns", "del", ns])

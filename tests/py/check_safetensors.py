#!/usr/bin/env python3
"""Cross-checks libtrain's safetensors files against the reference implementation.

  check_safetensors.py FILE EXPECT.json   load FILE with safetensors and compare it to EXPECT.json:
        {"metadata": {...}, "tensors": [{"name", "dtype", "shape", "values"}], "byte_exact": bool}
        byte_exact: the reference writer, given the same tensors and metadata,
        must produce the same bytes (only meaningful for at most one metadata key).
  check_safetensors.py --write-golden OUT      the reference writer's file for one F32 tensor
        "attn.0" of shape [1,2,3] holding 0..5, no metadata.
  check_safetensors.py --write-reference OUT   reference file with F32, I32, F16 tensors and metadata
        (values documented in write_reference; tests/test_safetensors.c checks them).

Exit status 0 when everything matches, 1 on a mismatch, 3 when numpy or safetensors is missing.
"""
import json
import struct
import sys

try:
    import numpy as np
    import safetensors
    import safetensors.numpy as stnp
except ImportError as e:
    print(f"check_safetensors.py: {e}; install with: python3 -m pip install safetensors numpy", file=sys.stderr)
    sys.exit(3)

# Reference dtype order (increasing alignment); the writer stores tensors by descending rank, then name.
DTYPE_RANK = {n: i for i, n in enumerate(
    ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "I16", "U16", "F16", "BF16", "I32", "U32", "F32",
     "F64", "I64", "U64", "C64"])}
NP_DTYPE = {"F32": np.float32, "I32": np.int32, "F16": np.float16}

errors = []


def check(cond, msg):
    if not cond:
        errors.append(msg)


def check_file(path, expect_path):
    with open(expect_path) as f:
        expect = json.load(f)
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header_bytes = raw[8:8 + hlen]
    check(hlen % 8 == 0, f"header length {hlen} is not a multiple of 8")
    check(header_bytes[:1] == b"{", "header does not start with '{'")
    text = header_bytes.decode("utf-8")
    check(text.rstrip(" ") == text.rstrip(), "header padding is not spaces")
    header = json.loads(text)
    entries = [(k, v) for k, v in header.items() if k != "__metadata__"]
    by_offset = [k for k, v in sorted(entries, key=lambda kv: tuple(kv[1]["data_offsets"]))]
    by_rule = [k for k, v in sorted(entries, key=lambda kv: (-DTYPE_RANK[kv[1]["dtype"]], kv[0].encode()))]
    check(by_offset == by_rule, f"data order {by_offset} is not the reference order {by_rule}")
    for k, v in entries:
        size = np.dtype(NP_DTYPE[v["dtype"]]).itemsize
        check(v["data_offsets"][0] % size == 0, f"{k}: data not aligned to its element size")

    tensors = stnp.load_file(path)
    with safetensors.safe_open(path, framework="numpy") as f:
        metadata = f.metadata()
    check(metadata == expect["metadata"], f"metadata {metadata} != expected {expect['metadata']}")
    want_names = sorted(t["name"] for t in expect["tensors"])
    check(sorted(tensors) == want_names, f"names {sorted(tensors)} != expected {want_names}")
    for t in expect["tensors"]:
        name = t["name"]
        if name not in tensors:
            continue
        a = tensors[name]
        want_dt = NP_DTYPE[t["dtype"]]
        check(a.dtype == want_dt, f"{name}: dtype {a.dtype} != {np.dtype(want_dt)}")
        check(list(a.shape) == t["shape"], f"{name}: shape {list(a.shape)} != {t['shape']}")
        want = np.array(t["values"], dtype=want_dt).reshape(t["shape"])
        if a.shape == want.shape and not np.array_equal(a, want):
            bad = np.flatnonzero(a.reshape(-1) != want.reshape(-1))
            i = int(bad[0])
            check(False, f"{name}: {len(bad)} values differ, first at flat index {i}: "
                         f"{a.reshape(-1)[i]} != {want.reshape(-1)[i]}")
    if expect.get("byte_exact"):
        ref = stnp.save({k: v for k, v in tensors.items()}, metadata=metadata)
        check(ref == raw, f"file ({len(raw)} bytes) differs from the reference writer's output ({len(ref)} bytes)")


def write_golden(out):
    stnp.save_file({"attn.0": np.arange(6, dtype=np.float32).reshape(1, 2, 3)}, out)


def write_reference(out):
    stnp.save_file({
        "w": (np.arange(12, dtype=np.float32) * 0.25 - 1).reshape(3, 4),   # -1, -0.75, ..., 1.75
        "idx": np.arange(5, dtype=np.int32) - 2,                          # -2..2
        "h": np.array([1, -2, 0.5, 65504, 2.0 ** -24, -0.0], dtype=np.float16).reshape(2, 3),
        "s": np.array(3.5, dtype=np.float32),                              # scalar, shape []
    }, out, metadata={"format": "pt", "origin": "numpy"})


def main(argv):
    if len(argv) == 3 and argv[1] == "--write-golden":
        write_golden(argv[2])
        return 0
    if len(argv) == 3 and argv[1] == "--write-reference":
        write_reference(argv[2])
        return 0
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        check_file(argv[1], argv[2])
    except Exception as e:  # the reference reader rejecting the file is a mismatch too
        errors.append(f"{type(e).__name__}: {e}")
    for e in errors:
        print(f"check_safetensors.py {argv[1]}: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Checkpoint files in every format torch.load reads, written by the PyTorch running this script
(pip's 2.x or Debian's 1.13), for test/checkpoint-formats.test.js.

Usage: checkpoint_formats.py COMMAND JSON_ARGS. Prints one JSON object.
- write {"dir"}: writes the files and returns, per file, what PyTorch holds in it (`describe`) and
  what torch.load does with it.
- check {"pairs": [[ours, reference], ...]}: whether torch.load reads each `ours` as exactly its
  `reference` (dtypes, shapes, bits, quantizers).
"""
import collections
import io
import json
import math
import os
import pickle
import struct
import sys
import tarfile
import types
import warnings

import numpy as np
import torch
import torch.nn as nn

warnings.filterwarnings("ignore")  # deprecations of quantization and TypedStorage
torch.manual_seed(0)


def describe(v):
    """A JSON form that test/checkpoint-formats.test.js also builds from what torchbridge loads."""
    if isinstance(v, torch.Tensor):
        if v.is_quantized:
            out = {"tensor": str(v.dtype)[6:], "shape": list(v.shape), "qscheme": str(v.qscheme())[6:],
                   "int": v.int_repr().flatten().tolist(), "dequantized": describe_floats(v.dequantize())}
            if v.qscheme() == torch.per_tensor_affine:
                out.update(scale=v.q_scale(), zeroPoint=v.q_zero_point())
            else:
                out.update(scales=v.q_per_channel_scales().tolist(), zeroPoints=v.q_per_channel_zero_points().tolist(),
                           axis=v.q_per_channel_axis())
            return out
        values = describe_floats(v) if v.is_floating_point() else [number(x) for x in v.flatten().tolist()]
        return {"tensor": str(v.dtype)[6:], "shape": list(v.shape), "values": values}
    if isinstance(v, (torch.dtype, torch.qscheme)):
        return {"const": str(v)}
    if isinstance(v, dict):  # sorted: JS objects put integer keys first
        return {"dict": sorted(([describe(k), describe(x)] for k, x in v.items()), key=lambda kv: str(kv[0]))}
    if isinstance(v, (list, tuple)):
        return {"list": [describe(x) for x in v]}
    if isinstance(v, (bytes, bytearray)):
        return {"bytes": bytes(v).hex()}
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    return number(v)


def number(x):
    if isinstance(x, bool):
        return int(x)
    if isinstance(x, int):
        return x if abs(x) <= 2**53 - 1 else str(x)
    if math.isnan(x) or math.isinf(x):
        return repr(x)
    return x


def describe_floats(t):
    return [number(x) for x in t.double().flatten().tolist()]


def loads(path, **kw):
    """What torch.load does with the file: 'ok' or the exception's type."""
    try:
        torch.load(path, **kw)
        return "ok"
    except Exception as e:  # noqa: BLE001 - the kind of failure is the answer
        return type(e).__name__


def mixed():
    """Every dtype, a view sharing its base's storage, a tensor referenced twice, and plain values."""
    torch.manual_seed(0)  # the same values in every protocol's file
    base = torch.randn(4, 6)
    shared = torch.arange(5, dtype=torch.int16)
    return collections.OrderedDict([
        ("f32", torch.tensor([1.5, -0.0, float("inf"), float("nan"), 1e-40])),
        ("f64", torch.randn(2, 3, dtype=torch.float64)),
        ("f16", torch.randn(3).half()),
        ("bf16", torch.randn(3).bfloat16()),
        ("i64", torch.tensor([2**40, -7, 0])),
        ("i32", torch.tensor([1, -2**31], dtype=torch.int32)),
        ("i8", torch.tensor([-128, 127], dtype=torch.int8)),
        ("u8", torch.tensor([0, 255], dtype=torch.uint8)),
        ("bool", torch.tensor([True, False])),
        ("base", base),
        ("view", base[1:, ::2]),
        ("shared", [shared, shared]),
        ("meta", {"epoch": 3, "lr": 0.1, "name": "r\u00e9sum\u00e9 \u2713 \\ \n", "big": 2**70, "neg": -2**70,
                  "inf": float("inf"), "negzero": -0.0, "tiny": 1e-300, "flag": True, "none": None,
                  "pair": (1, "a"), 7: "int key", "raw": b"\x00\xffbytes"}),
    ])


def quantized():
    torch.manual_seed(1)
    x = torch.randn(3, 4)
    sd = collections.OrderedDict([
        ("pt_qint8", torch.quantize_per_tensor(x, 0.1, 3, torch.qint8)),
        ("pt_quint8", torch.quantize_per_tensor(x, 0.05, 128, torch.quint8)),
        ("pt_qint32", torch.quantize_per_tensor(x, 0.001, -5, torch.qint32)),
        ("pt_scale_one", torch.quantize_per_tensor(x, 1.0, 0, torch.qint8)),
        ("pc_axis0", torch.quantize_per_channel(x, torch.tensor([0.1, 0.02, 0.3], dtype=torch.double),
                                                torch.tensor([0, 1, -2]), 0, torch.qint8)),
        ("pc_axis1", torch.quantize_per_channel(x, torch.tensor([0.1, 0.2, 0.05, 0.01], dtype=torch.double),
                                                torch.tensor([10, 0, 128, 3]), 1, torch.quint8)),
        # Float zero points: per_channel_affine_float_qparams (embedding bags), saved as per_channel_affine.
        ("pc_float_qparams", torch.quantize_per_channel(x, torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0.5, 1.0, -2.0]),
                                                        0, torch.quint8)),
    ])
    model = torch.ao.quantization.quantize_dynamic(nn.Sequential(nn.Linear(4, 3)), {nn.Linear}, dtype=torch.qint8)
    for k, v in model.state_dict().items():
        sd["dynamic." + k] = v
    return sd


def dtypes():
    return {"dtype": torch.float16, "quantized": torch.qint8,
            "all": [torch.float32, torch.float64, torch.bfloat16, torch.int64, torch.uint8, torch.bool,
                    torch.quint8, torch.qint32, torch.complex64],
            "schemes": (torch.per_tensor_affine, torch.per_channel_affine), "w": torch.ones(2)}


def save_legacy(obj, path, protocol):
    torch.save(obj, path, pickle_protocol=protocol, _use_new_zipfile_serialization=False)


def save_tar(obj, path):
    """torch.save's format before PyTorch 0.1.10, which torch.load still reads (weights_only=False)."""
    tensors = {}

    def persistent_id(o):
        if torch.is_tensor(o):
            tensors[id(o)] = o
            return str(id(o))
        return None

    main = io.BytesIO()
    pickler = pickle.Pickler(main, protocol=2)
    pickler.persistent_id = persistent_id
    pickler.dump(obj)
    storages, tensor_records = io.BytesIO(), io.BytesIO()
    roots = {}
    for key, t in tensors.items():
        s = t.untyped_storage()
        roots.setdefault(s.data_ptr(), (id(s), t))
    pickle.dump(len(roots), storages, protocol=2)
    for root_key, t in roots.values():
        storage_type = {
            torch.float32: torch.FloatStorage, torch.float64: torch.DoubleStorage, torch.int64: torch.LongStorage,
            torch.float16: torch.HalfStorage, torch.uint8: torch.ByteStorage}[t.dtype]
        pickle.dump((root_key, "cpu", storage_type), storages, protocol=2)
        data = t.untyped_storage().cpu()
        storages.write(struct.pack("<q", len(data) // t.element_size()))
        storages.write(bytes(data))
    pickle.dump([], storages, protocol=2)
    pickle.dump(len(tensors), tensor_records, protocol=2)
    for key, t in tensors.items():
        root_key = roots[t.untyped_storage().data_ptr()][0]
        pickle.dump((key, root_key, None), tensor_records, protocol=2)
        tensor_records.write(struct.pack("<ii", t.dim(), 0))
        tensor_records.write(struct.pack(f"<{t.dim()}q", *t.shape))
        tensor_records.write(struct.pack(f"<{t.dim()}q", *t.stride()))
        tensor_records.write(struct.pack("<q", t.storage_offset()))
    sys_info = io.BytesIO()
    pickle.dump({"protocol_version": 1000, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 8}}, sys_info, protocol=2)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, buf in (("sys_info", sys_info), ("pickle", main), ("tensors", tensor_records), ("storages", storages)):
            info = tarfile.TarInfo(name)
            info.size = len(buf.getvalue())
            tar.addfile(info, io.BytesIO(buf.getvalue()))


def lightning_checkpoint():
    """What Lightning's Trainer.save_checkpoint writes: its hyper-parameters are a dict subclass."""
    parsing = types.ModuleType("pytorch_lightning.utilities.parsing")

    class AttributeDict(dict):
        pass

    AttributeDict.__module__ = parsing.__name__
    AttributeDict.__qualname__ = "AttributeDict"
    parsing.AttributeDict = AttributeDict
    for name in ("pytorch_lightning", "pytorch_lightning.utilities", "pytorch_lightning.utilities.parsing"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules[parsing.__name__] = parsing
    hparams = AttributeDict(lr=0.01, hidden=32)
    return {"epoch": 3, "global_step": 120, "pytorch-lightning_version": "2.1.0",
            "state_dict": collections.OrderedDict([("model.weight", torch.randn(2, 2)), ("model.bias", torch.zeros(2))]),
            "hyper_parameters": hparams}


def cmd_write(spec):
    d = spec["dir"]
    files = {}

    def entry(name, obj, writer, expected=True):
        path = os.path.join(d, name)
        writer(obj, path)
        files[name] = {"path": path, "full": loads(path, weights_only=False), "weightsOnly": loads(path, weights_only=True)}
        if expected:
            files[name]["expected"] = describe(obj)

    for protocol in (0, 1, 2):
        entry(f"mixed-p{protocol}.pth", mixed(), lambda o, p, n=protocol: save_legacy(o, p, n))
        entry(f"plain-p{protocol}.pth", {"epoch": 5, "losses": [0.5, 0.25], "name": "\u00e9t\u00e9", "big": -2**70},
              lambda o, p, n=protocol: save_legacy(o, p, n))
    entry("quantized.pth", quantized(), torch.save)
    entry("quantized-legacy.pth", quantized(), lambda o, p: save_legacy(o, p, 2))
    entry("dtypes.pth", dtypes(), torch.save)
    entry("dtypes-legacy-p1.pth", dtypes(), lambda o, p: save_legacy(o, p, 1))
    if hasattr(torch.Tensor, "untyped_storage"):  # PyTorch 2.x
        entry("tar.pth", collections.OrderedDict([("w", torch.randn(2, 3)), ("n", torch.arange(4))]), save_tar)
    entry("script.pt", torch.jit.script(nn.Linear(2, 2)), lambda o, p: o.save(p), expected=False)
    lightning = lightning_checkpoint()
    entry("lightning.ckpt", lightning, torch.save, expected=False)
    entry("lightning-state-dict.pth", lightning["state_dict"], torch.save)
    entry("numpy-scalar.pth", {"state_dict": {"w": torch.ones(2)}, "best_acc": np.float64(0.93)}, torch.save, expected=False)
    return {"version": torch.__version__, "files": files}


def same(a, b, where="checkpoint"):
    """None if torch.load's results are exactly alike, else where they first differ."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return f"{where}: a tensor against a {type(b).__name__}"
        if a.dtype != b.dtype or a.shape != b.shape or a.is_quantized != b.is_quantized:
            return f"{where}: {a.dtype} {list(a.shape)} against {b.dtype} {list(b.shape)}"
        if a.is_quantized:
            if a.qscheme() != b.qscheme():
                return f"{where}: qscheme {a.qscheme()} against {b.qscheme()}"
            if a.qscheme() == torch.per_tensor_affine:
                if (a.q_scale(), a.q_zero_point()) != (b.q_scale(), b.q_zero_point()):
                    return f"{where}: scale/zero point {a.q_scale()}/{a.q_zero_point()} against {b.q_scale()}/{b.q_zero_point()}"
            elif not (torch.equal(a.q_per_channel_scales(), b.q_per_channel_scales())
                      and torch.equal(a.q_per_channel_zero_points(), b.q_per_channel_zero_points())
                      and a.q_per_channel_axis() == b.q_per_channel_axis()):
                return f"{where}: per-channel quantizers differ"
            a, b = a.int_repr(), b.int_repr()
        if a.element_size() and a.numel():
            ab = a.contiguous().flatten().view(torch.uint8) if a.dtype != torch.bool else a
            bb = b.contiguous().flatten().view(torch.uint8) if b.dtype != torch.bool else b
            if not torch.equal(ab, bb):
                return f"{where}: the bits differ"
        return None
    if type(a) is not type(b) and not (isinstance(a, dict) and isinstance(b, dict)):
        return f"{where}: {type(a).__name__} against {type(b).__name__}"
    if isinstance(a, dict):
        if list(a.keys()) != list(b.keys()):
            return f"{where}: keys {list(a.keys())} against {list(b.keys())}"
        for k in a:
            r = same(a[k], b[k], f"{where}[{k!r}]")
            if r:
                return r
        return None
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return f"{where}: length {len(a)} against {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            r = same(x, y, f"{where}[{i}]")
            if r:
                return r
        return None
    if isinstance(a, float):
        return None if struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b)) else f"{where}: {a!r} against {b!r}"
    return None if a == b else f"{where}: {a!r} against {b!r}"


def cmd_check(spec):
    """For each [ours, reference] pair: None if alike, else where they first differ."""
    # PyTorch 1.13's weights_only unpickler reads too little (not even its own legacy files): its full loader then.
    weights_only = not torch.__version__.startswith("1.")
    return {"differences": [same(torch.load(ours, weights_only=weights_only), torch.load(reference, weights_only=False))
                            for ours, reference in spec["pairs"]]}


if __name__ == "__main__":
    command, args = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(globals()["cmd_" + command](args)))

"""Writes the checkpoint fixtures for test/io.test.js with Debian's PyTorch 1.13.1.

Usage: make_fixtures.py OUT_DIR. Prints a JSON description of what each file must load as.
"""
import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import torch

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
expect = {}


def path(name):
    return os.path.join(out, name)


# Every dtype, zip format.
dtypes = {
    "float32": torch.float32, "float64": torch.float64, "float16": torch.float16, "bfloat16": torch.bfloat16,
    "int64": torch.int64, "int32": torch.int32, "int16": torch.int16, "int8": torch.int8, "uint8": torch.uint8, "bool": torch.bool,
}
values = [0, 1, -2, 3, 127, -128, 5.5, -0.25]
sd = collections.OrderedDict()
for name, dt in dtypes.items():
    v = [x for x in values if dt != torch.uint8 or x >= 0]
    if dt == torch.bool:
        v = [0, 1, 1, 0]
    elif not dt.is_floating_point:
        v = [int(x) for x in v if float(x).is_integer()]
    sd[name] = torch.tensor(v).to(dt)
torch.save(sd, path("dtypes.pth"))
torch.save(sd, path("dtypes-legacy.pth"), _use_new_zipfile_serialization=False)
expect["dtypes"] = {k: {"dtype": k, "values": t.float().tolist() if k in ("float16", "bfloat16") else t.tolist()} for k, t in sd.items()}

# Views: non-contiguous strides, storage offsets, tensors sharing one storage.
base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
views = {"base": base, "transposed": base.t(), "offset": base[1:, 2:], "strided": base[:, ::2], "row": base[2]}
torch.save(views, path("views.pth"))
torch.save(views, path("views-legacy.pth"), _use_new_zipfile_serialization=False)
expect["views"] = {k: {"shape": list(v.shape), "values": v.flatten().tolist()} for k, v in views.items()}

# A nested training checkpoint, a state_dict with _metadata, and DataParallel's module. prefix.
model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
opt = torch.optim.Adam(model.parameters(), lr=0.01)
model(torch.ones(1, 3)).sum().backward()
opt.step()
torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3, "name": "run", "ratio": 0.5,
            "flags": (True, False, None), "big": 2 ** 62, "blob": b"\x00\x01\xff"}, path("nested.pth"))
expect["nested"] = {"keys": list(model.state_dict().keys()), "metadata_keys": sorted(model.state_dict()._metadata.keys()),
                    "exp_avg_0": opt.state_dict()["state"][0]["exp_avg"].flatten().tolist()}
torch.save(collections.OrderedDict(("module." + k, v) for k, v in model.state_dict().items()), path("dataparallel.pth"))

# The zip layout of other versions: another folder name, byteorder and serialization_id records,
# and _rebuild_tensor_v2 with a 7th (metadata) argument, as PyTorch 2.x writes.
class Storage:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class Rebuild7:
    def __init__(self, storage, size, stride):
        self.args = (storage, 0, size, stride, False, collections.OrderedDict(), {})

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
        return None


buf = io.BytesIO()
Pickler(buf, protocol=2).dump(collections.OrderedDict([("w", Rebuild7(Storage("0", 6), (2, 3), (3, 1)))]))
with zipfile.ZipFile(path("v2-layout.pth"), "w", zipfile.ZIP_STORED) as z:
    z.writestr("some_other_name/data.pkl", buf.getvalue())
    z.writestr("some_other_name/byteorder", "little")
    z.writestr("some_other_name/data/0", struct.pack("<6f", 1, 2, 3, 4, 5, 6))
    z.writestr("some_other_name/version", "3\n")
    z.writestr("some_other_name/.data/serialization_id", "1234567890")
# (PyTorch 1.13 itself cannot read the 7th argument; 2.x can.)
expect["v2"] = [[1, 2, 3], [4, 5, 6]]

# A malicious pickle: calling os.system when unpickled by an unrestricted loader.
marker = path("PWNED")


class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + marker,))


buf = io.BytesIO()
pickle.dump({"w": Evil()}, buf, protocol=2)
with zipfile.ZipFile(path("malicious.pth"), "w", zipfile.ZIP_STORED) as z:
    z.writestr("archive/data.pkl", buf.getvalue())
    z.writestr("archive/version", "3\n")
expect["malicious_marker"] = marker

# safetensors, written by hand (no safetensors package in Debian 12): little-endian data, JSON header.
tensors = {"a": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.tensor([1, -2, 3], dtype=torch.int64),
           "c": torch.tensor([0.5, 1.5], dtype=torch.float16)}
codes = {torch.float32: "F32", torch.int64: "I64", torch.float16: "F16"}
header, data = {"__metadata__": {"format": "pt"}}, b""
for k, t in tensors.items():
    raw = t.contiguous().numpy().tobytes()
    header[k] = {"dtype": codes[t.dtype], "shape": list(t.shape), "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(path("tensors.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
expect["safetensors"] = {k: {"shape": list(t.shape), "values": t.float().flatten().tolist()} for k, t in tensors.items()}

# A checkpoint saved "on CUDA": torch.save records each storage's location_tag; a CPU-only
# PyTorch writes 'cuda:0' when that function says so, and torch.load then needs map_location.
cuda_sd = {"w": torch.tensor([[1.5, -2.0], [0.25, 4.0]]), "b": torch.tensor([3.0, -1.0])}
real_location_tag = torch.serialization.location_tag
torch.serialization.location_tag = lambda storage: "cuda:0"
try:
    torch.save(cuda_sd, path("saved-on-cuda.pth"))
finally:
    torch.serialization.location_tag = real_location_tag
try:
    torch.load(path("saved-on-cuda.pth"))
    python_refuses = False
except RuntimeError:
    python_refuses = True
reloaded = torch.load(path("saved-on-cuda.pth"), map_location="cpu")
expect["saved_on_cuda"] = {"python_refuses_without_map_location": python_refuses,
                           "values": {k: v.flatten().tolist() for k, v in reloaded.items()}}

print(json.dumps(expect))

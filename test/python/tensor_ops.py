"""PyTorch references for test/tensor-ops.test.js and test/dataset.test.js, run by the Python
PyTorch of the linked libtorch's version (test/helpers/reference.js's PYTHON).

Usage: tensor_ops.py COMMAND JSON_ARGS. Prints one JSON object. Inputs come from torch.manual_seed
on both sides; results go back as base64 of their bytes (float16/bfloat16 widened to float32 and
bool to uint8, exactly as torchbridge's toArray() does), so the test compares them bitwise.
"""
import base64
import json
import math
import sys

import torch
from torch.utils.data import DataLoader, TensorDataset, random_split


def encode(t):
    c = t.detach().contiguous()
    if c.dtype in (torch.float16, torch.bfloat16):
        c = c.float()
    if c.dtype == torch.bool:
        c = c.to(torch.uint8)
    return {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
            "data": base64.b64encode(c.numpy().tobytes()).decode()}


def encode_result(r):
    if isinstance(r, torch.Tensor):
        return encode(r)
    if hasattr(r, "values") and hasattr(r, "indices"):  # torch.return_types.max/min
        return {"values": encode(r.values), "indices": encode(r.indices)}
    if isinstance(r, (list, tuple)):
        return [encode_result(x) for x in r]
    raise TypeError(f"cannot encode {type(r)}")


def tensors_in(r):
    if isinstance(r, torch.Tensor):
        return [r]
    if hasattr(r, "values") and hasattr(r, "indices"):
        return [r.values]
    return [t for x in r for t in tensors_in(x)]


def make_inputs(specs):
    out = []
    for s in specs:
        kind = s.get("kind", "randn")
        dtype = getattr(torch, s.get("dtype", "float32" if kind == "randn" else "int64"))
        if kind == "randn":
            t = torch.randn(s["shape"], dtype=dtype)
        elif kind == "randint":
            t = torch.randint(s["low"], s["high"], s["shape"], dtype=dtype)
        else:  # bool
            t = torch.randn(s["shape"]) > 0
        if s.get("grad"):
            t.requires_grad_()
        out.append(t)
    return out


def cmd_ops(spec):
    results = []
    for case in spec["cases"]:
        torch.manual_seed(case.get("seed", 0))
        inputs = make_inputs(case.get("inputs", []))
        env = {"torch": torch, "math": math}
        env.update({name: t for name, t in zip("abcd", inputs)})
        r = eval(case["py"], env)
        entry = {"result": encode_result(r)}
        # The same loss on both sides: the sum of each differentiable output's squares.
        parts = [t.mul(t).sum() for t in tensors_in(r) if t.requires_grad]
        if parts:
            loss = parts[0]
            for p in parts[1:]:
                loss = loss.add(p)
            loss.backward()
            entry["grads"] = [encode(t.grad) if t.grad is not None else None for t in inputs]
        results.append(entry)
    return {"results": results}


def cmd_tensor_from_data(spec):
    return {"results": [encode(torch.tensor(c["data"], dtype=getattr(torch, c["dtype"]))) for c in spec["cases"]]}


def cmd_random_split(spec):
    out = []
    for c in spec["cases"]:
        ds = list(range(c["n"]))
        parts = random_split(ds, c["lengths"], generator=torch.Generator().manual_seed(c["seed"]))
        out.append([list(p.indices) for p in parts])
    # One generator across two splits: the second continues its stream.
    g = torch.Generator().manual_seed(spec["twice"]["seed"])
    twice = [[list(p.indices) for p in random_split(list(range(spec["twice"]["n"])), spec["twice"]["lengths"], generator=g)] for _ in range(2)]
    return {"splits": out, "twice": twice}


def cmd_loader(spec):
    """Batches of DataLoader(TensorDataset(x, y), shuffle=True) after torch.manual_seed, for some
    epochs, with dropout-like draws between batches to check the generator stays in step."""
    torch.manual_seed(spec["seed"])
    x = torch.randn(spec["n"], spec["features"])
    y = torch.randint(0, 3, (spec["n"],))
    generator = None if spec.get("generator") is None else torch.Generator().manual_seed(spec["generator"])
    loader = DataLoader(TensorDataset(x, y), batch_size=spec["batchSize"], shuffle=True, drop_last=spec["dropLast"], generator=generator)
    epochs = []
    for _ in range(spec["epochs"]):
        batches = []
        for xb, yb in loader:
            draw = torch.rand(1)
            batches.append({"x": encode(xb), "y": encode(yb), "draw": encode(draw)})
        epochs.append(batches)
    return {"epochs": epochs}


def cmd_collate(spec):
    from torch.utils.data import default_collate
    torch.manual_seed(spec["seed"])
    samples = []
    for i in range(spec["n"]):
        samples.append({"x": torch.randn(3), "label": i, "weight": i + 0.5, "pair": [i, torch.randn(2)]})
    b = default_collate(samples)
    return {"x": encode(b["x"]), "label": encode(b["label"]), "weight": encode(b["weight"]),
            "pair": [encode(b["pair"][0]), encode(b["pair"][1])]}


if __name__ == "__main__":
    command, args = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(globals()["cmd_" + command](args)))

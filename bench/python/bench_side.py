"""PyTorch's side of bench/bench.js: one figure per process, the same work as
bench/torchbridge-side.js. Usage: bench_side.py FIGURE JSON_ARGS. Prints one JSON object."""
import json
import os
import resource
import statistics
import sys
import time

import torch

# torchvision's AlexNet, or the same modules by hand where this Python has no torchvision (pip's
# CPU torch); resnet18 always by hand (test/python/models.py, checked against torchvision's own):
# one definition each, the parity tests'.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "test", "python"))
from models import BUILDERS  # noqa: E402
from reference import alexnet as torchvision_alexnet  # noqa: E402

figure, args = sys.argv[1], json.loads(sys.argv[2])
torch.set_num_threads(args["threads"])
torch.manual_seed(0)


def alexnet(head):
    base = torchvision_alexnet()
    if head == "replace":
        base.classifier[6] = torch.nn.Linear(4096, 2)
        return base
    return torch.nn.Sequential(base, torch.nn.Linear(1000, 2), torch.nn.Softmax(dim=1))  # the seed's head


def resnet18():
    return BUILDERS["resnet18"](2)


# The GPU figures (bench/gpu.js) pass a device and an AMP mode; CPU figures leave both at their default.
device = args.get("device", "cpu")
amp = args.get("amp", "off")
device_type = device.split(":")[0]
if amp == "fp16":
    scaler = torch.amp.GradScaler(device_type) if hasattr(torch.amp, "GradScaler") else torch.cuda.amp.GradScaler()
else:
    scaler = None


def sync():
    if device_type == "cuda":
        torch.cuda.synchronize()


def autocast():
    return torch.autocast(device_type, dtype=torch.float16 if amp == "fp16" else torch.bfloat16, enabled=amp != "off")


def adam_options():
    # PyTorch's fastest CPU Adam: fused=True exists on CPU from 2.4 (args["fused"] asks for it).
    return {"fused": True} if args.get("fused") else {}


def train_step(model, opt, crit, x, y):
    with autocast():
        loss = crit(model(x), y)
    if scaler:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        opt.step()


def seed_step_parts():
    """The seed step's phases timed apart (forward + loss, backward, optimizer step), medians."""
    model = alexnet("append").to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-8, **adam_options())
    crit = torch.nn.CrossEntropyLoss()
    x, y = torch.rand(1, 3, args["height"], args["width"]).to(device), torch.tensor([1], device=device)
    parts = {"forward": [], "backward": [], "step": []}
    for i in range(args["warmup"] + args["steps"]):
        t0 = time.perf_counter()
        loss = crit(model(x), y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if i >= args["warmup"]:
            for name, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2)):
                parts[name].append(seconds)
    return {name: statistics.median(times) for name, times in parts.items()}


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed_step():
    model = alexnet("append").to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-8, **adam_options())
    crit = torch.nn.CrossEntropyLoss()
    x, y = torch.rand(1, 3, args["height"], args["width"]).to(device), torch.tensor([1], device=device)
    times = []
    for i in range(args["warmup"] + args["steps"]):
        start = time.perf_counter()
        train_step(model, opt, crit, x, y)
        sync()
        if i >= args["warmup"]:
            times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times)}


def timed_training(model):
    """Batch-size steps of Adam (lr 1e-4) in train mode on one random batch; images/s after the warm-up."""
    model = model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, **adam_options())
    crit = torch.nn.CrossEntropyLoss()
    b, s = args["batch"], args["size"]
    x, y = torch.rand(b, 3, s, s).to(device), torch.randint(0, 2, (b,)).to(device)
    for i in range(args["warmup"] + args["steps"]):
        if i == args["warmup"]:
            sync()
            start = time.perf_counter()
        opt.zero_grad()
        train_step(model, opt, crit, x, y)
    sync()
    return {"imagesPerSecond": b * args["steps"] / (time.perf_counter() - start), "peakRssMB": peak_rss_mb()}


def timed_evaluation(model):
    """Eval-mode forwards without grad (and the argmax) on one random batch; images/s after the warm-up."""
    model = model.to(device).eval()
    b, s = args["batch"], args["size"]
    x = torch.rand(b, 3, s, s).to(device)
    with torch.no_grad():
        for i in range(args["warmup"] + args["steps"]):
            if i == args["warmup"]:
                sync()
                start = time.perf_counter()
            with autocast():
                model(x).argmax(1)
        sync()
    return {"imagesPerSecond": b * args["steps"] / (time.perf_counter() - start)}


def batched_training():
    return timed_training(alexnet("replace"))


def evaluation():
    return timed_evaluation(alexnet("replace"))


# torchvision's resnet18 (BatchNorm: its running stats update in training, are used in eval).
def resnet18_training():
    return timed_training(resnet18())


def resnet18_evaluation():
    return timed_evaluation(resnet18())


def image_folder(transform):
    import torchvision
    ds = torchvision.datasets.ImageFolder(args["data"], transform=transform)
    if args.get("limit"):
        ds = torch.utils.data.Subset(ds, range(min(args["limit"], len(ds))))
    return ds


def data_pipeline():
    from torchvision import transforms as T
    ds = image_folder(T.Compose([T.Resize(args["size"]), T.ToTensor()]))
    start = time.perf_counter()
    for i in range(len(ds)):
        ds[i]
    return {"imagesPerSecond": len(ds) / (time.perf_counter() - start)}


def seed_epoch():
    # The seed's loop: batch 1 in order, zero_grad once per epoch, cosine schedule stepped per epoch.
    from torchvision import transforms as T
    ds = image_folder(T.Compose([T.Resize(args["size"]), T.ToTensor()]))
    loader = torch.utils.data.DataLoader(ds, batch_size=1, shuffle=False)
    model = alexnet("append")
    opt = torch.optim.Adam(model.parameters(), lr=1e-8, **adam_options())
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=50)
    crit = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    model.train()
    opt.zero_grad()
    for x, y in loader:
        loss = crit(model(x), y)
        loss.backward()
        opt.step()
    sched.step()
    return {"seconds": time.perf_counter() - start, "steps": len(ds)}


print(json.dumps(globals()[figure]()))

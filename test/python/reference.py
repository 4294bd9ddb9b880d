"""PyTorch reference computations for the parity tests, run by the Python PyTorch of the same
version as the linked libtorch (test/helpers/reference.js), or by Debian's torchvision + PIL for
images.

Usage: reference.py COMMAND JSON_ARGS. Prints one JSON object. Inputs and initial weights come
from torch.manual_seed on both sides, so nothing but the config crosses over; floats go through
JSON with repr precision, so doubles round-trip exactly.
"""
import json
import math
import sys

import torch
import torch.nn as nn


def alexnet():
    """torchvision's AlexNet, or where torchvision is missing (pip's CPU torch has none) the same
    modules built by hand: same names, same construction order, so the same default init draws."""
    try:
        import torchvision
        return torchvision.models.alexnet()
    except ImportError:
        pass

    class AlexNet(nn.Module):
        def __init__(self, num_classes=1000, dropout=0.5):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2))
            self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
            self.classifier = nn.Sequential(
                nn.Dropout(p=dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
                nn.Dropout(p=dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
                nn.Linear(4096, num_classes))

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    return AlexNet()


def mlp(spec):
    torch.manual_seed(spec["seed"])
    model = nn.Sequential(nn.Linear(spec["inp"], spec["hidden"]), nn.ReLU(), nn.Linear(spec["hidden"], spec["out"]))
    x = torch.randn(spec["batch"], spec["inp"])
    y = torch.randint(0, spec["out"], (spec["batch"],))
    return model, x, y


def cmd_randint_targets(spec):
    _, _, y = mlp(spec)
    return {"targets": y.tolist()}


def make_optimizer(spec, params):
    kind = spec["optimizer"]
    o = spec["options"]
    if kind == "adam":
        return torch.optim.Adam(params, lr=o["lr"], betas=tuple(o.get("betas", (0.9, 0.999))), eps=o.get("eps", 1e-8),
                                weight_decay=o.get("weightDecay", 0), amsgrad=o.get("amsgrad", False),
                                maximize=o.get("maximize", False))
    return torch.optim.SGD(params, lr=o["lr"], momentum=o.get("momentum", 0), dampening=o.get("dampening", 0),
                           weight_decay=o.get("weightDecay", 0), nesterov=o.get("nesterov", False))


def cmd_optim(spec):
    torch.set_num_threads(spec["threads"])
    model, x, y = mlp(spec)
    opt = make_optimizer(spec, model.parameters())
    crit = nn.CrossEntropyLoss()
    losses = []
    for step in range(spec["steps"]):
        if step % spec["zeroEvery"] == 0:
            opt.zero_grad()
        loss = crit(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {"losses": losses, "weights": {k: v.flatten().tolist() for k, v in model.state_dict().items()}}


def cmd_schedulers(spec):
    out = []
    for case in spec["cases"]:
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=case["lr"])
        if case["kind"] == "cosine":
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=case["tMax"], eta_min=case.get("etaMin", 0))
        else:
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=case["stepSize"], gamma=case["gamma"])
        lrs = [sched.get_last_lr()[0]]
        for _ in range(case["steps"]):
            opt.step()
            sched.step()
            lrs.append(sched.get_last_lr()[0])
        out.append(lrs)
    return {"lrs": out}


def cmd_random(spec):
    torch.manual_seed(spec["seed"])
    rand = torch.rand(spec["n"]).tolist()
    randn = torch.randn(spec["n"]).tolist()
    drop = nn.Dropout(0.5)
    drop.train()
    mask = drop(torch.ones(spec["n"])).tolist()
    torch.manual_seed(spec["seed"])
    lin = nn.Linear(5, 3)
    conv = nn.Conv2d(3, 4, 3)
    return {"rand": rand, "randn": randn, "dropout": mask,
            "init": {"linear.weight": lin.weight.flatten().tolist(), "linear.bias": lin.bias.tolist(),
                     "conv.weight": conv.weight.flatten().tolist(), "conv.bias": conv.bias.tolist()}}


def cmd_alexnet_names(spec):
    import torchvision
    model = torchvision.models.alexnet()
    return {"params": [[k, list(v.shape)] for k, v in model.named_parameters()],
            "state": [k for k in model.state_dict().keys()]}


def cmd_seed_loop(spec):
    """The seed's loop: Sequential(alexnet, Linear(1000, 2), Softmax(dim=1)), batch 1, zero_grad once
    per epoch, Adam + CosineAnnealingLR stepped per epoch, dropout active. spec["device"] (default
    cpu): initialised on the CPU, then moved, as the Node side does."""
    device = spec.get("device", "cpu")
    torch.set_num_threads(spec["threads"])
    torch.manual_seed(spec["seed"])
    model = nn.Sequential(alexnet(), nn.Linear(1000, 2), nn.Softmax(dim=1))
    images = [torch.rand(3, h, w) for h, w in spec["sizes"]]
    model.to(device)
    images = [img.to(device) for img in images]
    labels = spec["labels"]
    torch.manual_seed(spec["seed"] + 1)
    crit = nn.CrossEntropyLoss()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=spec["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=spec["tMax"], last_epoch=-1)
    losses, outputs, lrs = [], [], []
    for epoch in range(spec["epochs"]):
        opt.zero_grad()
        for img, label in zip(images, labels):
            out = model(img.unsqueeze(0))
            loss = crit(out, torch.tensor([label], device=device))
            loss.backward()
            opt.step()
            losses.append(loss.item())
            outputs.append(out.flatten().tolist())
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    with open(spec["weightsFile"], "wb") as f:
        for _, v in model.state_dict().items():
            f.write(v.detach().cpu().contiguous().numpy().astype("<f4").tobytes())
    return {"losses": losses, "outputs": outputs, "lrs": lrs}


def cmd_alexnet_checkpoint(spec):
    """A seeded torchvision AlexNet saved in both formats, with an input and its eval output."""
    torch.set_num_threads(spec["threads"])
    torch.manual_seed(spec["seed"])
    model = alexnet().eval()
    torch.save(model.state_dict(), spec["zip"])
    torch.save(model.state_dict(), spec["legacy"], _use_new_zipfile_serialization=False)
    x = torch.rand(2, 3, 224, 224)
    torch.save(x, spec["input"])
    with torch.no_grad():
        out = model(x)
    return {"output": out.flatten().tolist()}


def cmd_check_saved(spec):
    """Loads a file torchbridge saved and compares it with the original, tensor by tensor, bitwise."""
    ours = torch.load(spec["ours"])
    ref = torch.load(spec["reference"])
    result = alexnet().load_state_dict(ours, strict=True) if spec.get("alexnet", True) else None
    return {"type": type(ours).__name__, "keys": list(ours.keys()) == list(ref.keys()),
            "bitwise": all(torch.equal(ours[k], ref[k]) and ours[k].dtype == ref[k].dtype for k in ref),
            "strict": str(result)}


def cmd_continue_adam(spec):
    """Loads a model + Adam checkpoint saved by torchbridge into torch.optim.Adam and takes more steps."""
    torch.set_num_threads(spec["threads"])
    model, x, y = mlp(spec)
    ck = torch.load(spec["checkpoint"])
    model.load_state_dict(ck["model"])
    opt = make_optimizer(spec, model.parameters())
    opt.load_state_dict(ck["optimizer"])
    crit = nn.CrossEntropyLoss()
    for _ in range(spec["more"]):
        opt.zero_grad()
        loss = crit(model(x), y)
        loss.backward()
        opt.step()
    return {"weights": {k: v.flatten().tolist() for k, v in model.state_dict().items()},
            "step": opt.state_dict()["state"][0]["step"].item()}


def cmd_image_folder(spec):
    """torchvision's ImageFolder + Resize(size) on a folder: classes, samples, and each image's
    resized RGB pixels (uint8, HWC) appended to a raw file for the pixel comparison."""
    import torchvision
    from torchvision import transforms
    ds = torchvision.datasets.ImageFolder(spec["root"], transform=transforms.Resize(spec["size"]))
    sizes = []
    with open(spec["pixels"], "wb") as f:
        for i in range(len(ds)):
            img, _ = ds[i]
            sizes.append([img.height, img.width])
            f.write(img.tobytes())
    return {"classes": ds.classes, "class_to_idx": ds.class_to_idx, "samples": [[p, t] for p, t in ds.samples], "sizes": sizes}


def cmd_transform_pixels(spec):
    """PIL pixels (uint8, HWC) of an image after torchvision's centerCrop/resize steps."""
    from PIL import Image
    from torchvision import transforms
    steps = {"centerCrop": transforms.CenterCrop, "resize": transforms.Resize}
    out = []
    for case in spec["cases"]:
        img = Image.open(spec["file"]).convert("RGB")
        for name, size in case:
            img = steps[name](size)(img)
        out.append({"size": [img.height, img.width], "pixels": list(img.tobytes())})
    return out


def cmd_torch_loader(spec):
    """Batches of torch.utils.data.DataLoader (shuffle, num_workers=0) over torchvision's
    ImageFolder with RandomResizedCrop + flip, after torch.manual_seed; `between` numbers are
    drawn from the global generator after each batch, as dropout would."""
    import torchvision
    from torchvision import transforms as T
    torch.manual_seed(spec["seed"])
    ds = torchvision.datasets.ImageFolder(spec["root"], T.Compose([T.RandomResizedCrop(spec["size"]), T.RandomHorizontalFlip(), T.ToTensor()]))
    loader = torch.utils.data.DataLoader(ds, batch_size=spec["batch"], shuffle=True)
    out = []
    for _ in range(spec["epochs"]):
        for x, y in loader:
            out.append({"targets": y.tolist(), "pixels": x.flatten().tolist()})
            torch.rand(spec["between"])
    return out


def cmd_distributed_sampler(spec):
    """torch.utils.data.DistributedSampler's indices for each case and rank."""
    from torch.utils.data import DistributedSampler
    out = []
    for c in spec["cases"]:
        per_rank = []
        for rank in range(c["replicas"]):
            s = DistributedSampler(range(c["n"]), num_replicas=c["replicas"], rank=rank, shuffle=c["shuffle"],
                                   seed=c["seed"], drop_last=c["dropLast"])
            s.set_epoch(c["epoch"])
            per_rank.append(list(iter(s)))
        out.append(per_rank)
    return out


def cmd_autocast(spec):
    """A small conv net under torch.autocast('cpu', bfloat16): dtypes, outputs, float32 grads."""
    torch.manual_seed(spec["seed"])
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 5))
    x = torch.randn(2, 3, 8, 8)
    y = torch.tensor(spec["targets"])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hidden = model[0](x)
        out = model[4](model[3](model[2](model[1](hidden))))
        loss = nn.functional.cross_entropy(out, y)
        probs = torch.softmax(out, 1)
    loss.backward()
    return {"dtypes": {"conv": str(hidden.dtype)[6:], "linear": str(out.dtype)[6:], "loss": str(loss.dtype)[6:],
                       "softmax": str(probs.dtype)[6:]},
            "out": out.float().flatten().tolist(), "loss": loss.item(),
            "grads": {k: v.grad.flatten().tolist() for k, v in model.named_parameters()},
            "gradDtypes": sorted({str(v.grad.dtype)[6:] for v in model.parameters()})}


if __name__ == "__main__":
    command, args = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(globals()["cmd_" + command](args)))

"""PyTorch reference computations for the parity tests, run by the Python PyTorch of the same
version as the linked libtorch (test/helpers/reference.js), or by Debian's torchvision + PIL for
images.

Usage: reference.py COMMAND JSON_ARGS. Prints one JSON object. Inputs and initial weights come
from torch.manual_seed on both sides, so nothing but the config crosses over; floats go through
JSON with repr precision, so doubles round-trip exactly.
"""
import collections
import inspect
import json
import math
import sys
import warnings

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
    if kind == "adamw":
        return torch.optim.AdamW(params, lr=o.get("lr", 1e-3), betas=tuple(o.get("betas", (0.9, 0.999))), eps=o.get("eps", 1e-8),
                                 weight_decay=o.get("weightDecay", 1e-2), amsgrad=o.get("amsgrad", False),
                                 maximize=o.get("maximize", False))
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=o.get("lr", 1e-2), alpha=o.get("alpha", 0.99), eps=o.get("eps", 1e-8),
                                   weight_decay=o.get("weightDecay", 0), momentum=o.get("momentum", 0),
                                   centered=o.get("centered", False), maximize=o.get("maximize", False))
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


def clip_grads(model, clip):
    """torch.nn.utils.clip_grad_norm_ / clip_grad_value_ as a case asks; the total norm or None."""
    if clip is None:
        return None
    utils = torch.nn.utils
    if clip["kind"] == "value":
        utils.clip_grad_value_(model.parameters(), clip["clipValue"])
        return None
    kw = {}
    if "foreach" in clip and "foreach" in inspect.signature(utils.clip_grad_norm_).parameters:
        kw["foreach"] = clip["foreach"]
    return utils.clip_grad_norm_(model.parameters(), clip["maxNorm"], norm_type=float(clip.get("normType", 2.0)), **kw).item()


def train_steps(model, opt, x, y, steps, zero_every=1, clip=None):
    crit = nn.CrossEntropyLoss()
    losses, norms = [], []
    for step in range(steps):
        if step % zero_every == 0:
            opt.zero_grad()
        loss = crit(model(x), y)
        loss.backward()
        norm = clip_grads(model, clip)
        if norm is not None:
            norms.append(norm)
        opt.step()
        losses.append(loss.item())
    return losses, norms


def weights_of(model):
    return {k: v.flatten().tolist() for k, v in model.state_dict().items()}


def cmd_optim_cases(spec):
    """Like optim, for many cases in one process (spec["base"] + each case), with optional gradient
    clipping before each step; returns each case's targets, losses, total norms and final weights."""
    torch.set_num_threads(spec["threads"])
    out = []
    for case in spec["cases"]:
        s = {**spec["base"], **case}
        model, x, y = mlp(s)
        opt = make_optimizer(s, model.parameters())
        losses, norms = train_steps(model, opt, x, y, s["steps"], s.get("zeroEvery", 1), s.get("clip"))
        out.append({"targets": y.tolist(), "losses": losses, "norms": norms, "weights": weights_of(model)})
    return out


def cmd_optim_round_trip(spec):
    """Per case, both directions of an optimizer checkpoint: loads the model + optimizer state that
    torchbridge saved (case["ours"]) and takes `more` steps; and trains `first` steps itself, saves
    its checkpoint for torchbridge (case["theirs"]), and takes `more` steps."""
    torch.set_num_threads(spec["threads"])
    out = []
    for case in spec["cases"]:
        s = {**spec["base"], **case}
        model, x, y = mlp(s)
        ck = torch.load(s["ours"])
        model.load_state_dict(ck["model"])
        opt = make_optimizer(s, model.parameters())
        opt.load_state_dict(ck["optimizer"])
        train_steps(model, opt, x, y, s["more"])
        continued = weights_of(model)
        model, x, y = mlp(s)
        opt = make_optimizer(s, model.parameters())
        train_steps(model, opt, x, y, s["first"])
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, s["theirs"])
        train_steps(model, opt, x, y, s["more"])
        out.append({"targets": y.tolist(), "continued": continued, "theirs": weights_of(model)})
    return out


def cmd_clip_mixed(spec):
    """clip_grad_norm_ over parameters of mixed dtypes (grouped by dtype on 2.x): per norm type, the
    total norm and the clipped gradients."""
    torch.set_num_threads(spec["threads"])
    out = []
    for norm_type in spec["normTypes"]:
        params = []
        for values, dtype in zip(spec["grads"], spec["dtypes"]):
            p = torch.zeros(len(values), dtype=getattr(torch, dtype), requires_grad=True)
            p.grad = torch.tensor(values, dtype=p.dtype)
            params.append(p)
        total = torch.nn.utils.clip_grad_norm_(params, spec["maxNorm"], norm_type=float(norm_type))
        out.append({"total": total.item(), "grads": [p.grad.tolist() for p in params]})
    return out


def scheduler_optimizer(case):
    """An optimizer over one-element parameters, one param group per lr in case["lrs"]."""
    lrs = case.get("lrs", [0.1])
    groups = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs]
    for group, initial in zip(groups, case.get("initialLrs", [])):
        group["initial_lr"] = initial
    if case.get("optimizer", "sgd") == "adam":
        return torch.optim.Adam(groups, lr=lrs[0])
    return torch.optim.SGD(groups, lr=lrs[0], momentum=case.get("momentum", 0))


def make_scheduler(opt, c):
    L = torch.optim.lr_scheduler
    kind = c["kind"]
    last_epoch = c.get("lastEpoch", -1)
    if kind == "cosine":
        return L.CosineAnnealingLR(opt, T_max=c["tMax"], eta_min=c.get("etaMin", 0), last_epoch=last_epoch)
    if kind == "step":
        return L.StepLR(opt, step_size=c["stepSize"], gamma=c.get("gamma", 0.1), last_epoch=last_epoch)
    if kind == "linear":
        return L.LinearLR(opt, start_factor=c.get("startFactor", 1.0 / 3), end_factor=c.get("endFactor", 1.0),
                          total_iters=c.get("totalIters", 5), last_epoch=last_epoch)
    if kind == "exponential":
        return L.ExponentialLR(opt, gamma=c["gamma"], last_epoch=last_epoch)
    if kind == "multistep":
        return L.MultiStepLR(opt, milestones=c["milestones"], gamma=c.get("gamma", 0.1), last_epoch=last_epoch)
    if kind == "onecycle":
        return L.OneCycleLR(opt, max_lr=c["maxLr"], total_steps=c["totalSteps"], pct_start=c.get("pctStart", 0.3),
                            anneal_strategy=c.get("annealStrategy", "cos"), cycle_momentum=c.get("cycleMomentum", True),
                            div_factor=c.get("divFactor", 25.0), final_div_factor=c.get("finalDivFactor", 1e4),
                            three_phase=c.get("threePhase", False))
    if kind == "plateau":
        return L.ReduceLROnPlateau(opt, mode=c.get("mode", "min"), factor=c.get("factor", 0.1), patience=c.get("patience", 10),
                                   threshold=c.get("threshold", 1e-4), threshold_mode=c.get("thresholdMode", "rel"),
                                   cooldown=c.get("cooldown", 0), min_lr=c.get("minLr", 0), eps=c.get("eps", 1e-8))
    if kind == "sequential":
        return L.SequentialLR(opt, schedulers=[make_scheduler(opt, s) for s in c["schedulers"]], milestones=c["milestones"])
    raise ValueError(kind)


def scheduler_values(opt):
    """Every group's lr, and its momentum (or Adam's beta1)."""
    return {"lr": [g["lr"] for g in opt.param_groups],
            "momentum": [g["betas"][0] if "betas" in g else g.get("momentum", 0) for g in opt.param_groups]}


def run_scheduler(opt, sched, c, steps, start=0):
    """`steps` steps (optimizer, then scheduler, as PyTorch asks); ReduceLROnPlateau gets c["metrics"][i],
    and c["epochs"] (if given) are passed to step(epoch), the deprecated closed form."""
    out = []
    for i in range(start, start + steps):
        opt.step()
        if c["kind"] == "plateau":
            sched.step(c["metrics"][i])
        elif "epochs" in c:
            sched.step(c["epochs"][i])
        else:
            sched.step()
        out.append(scheduler_values(opt))
    return out


def cmd_scheduler_cases(spec):
    """For each case, the lr and momentum of every param group after construction and after each step."""
    out = []
    for c in spec["cases"]:
        opt = scheduler_optimizer(c)
        sched = make_scheduler(opt, c)
        out.append([scheduler_values(opt)] + run_scheduler(opt, sched, c, c["steps"]))
    return out


def loadable_state(sd):
    """A scheduler state_dict as io.load (like weights_only) can read it: MultiStepLR's Counter as a
    dict, and without 1.13 OneCycleLR's bound method anneal_func (the scheduler keeps its own)."""
    out = {k: (dict(v) if isinstance(v, collections.Counter) else v) for k, v in sd.items() if not callable(v)}
    if "_schedulers" in out:
        out["_schedulers"] = [loadable_state(s) for s in out["_schedulers"]]
    return out


def cmd_scheduler_round_trip(spec):
    """Per case, both directions: loads the optimizer + scheduler state that torchbridge saved after
    `first` steps (case["ours"]) into a fresh torch scheduler and takes `more` steps; and takes `first`
    steps itself, saves its state (case["theirs"]), and takes `more` steps."""
    warnings.simplefilter("ignore")
    out = []
    for c in spec["cases"]:
        opt = scheduler_optimizer(c)
        sched = make_scheduler(opt, c)
        ck = torch.load(c["ours"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        continued = run_scheduler(opt, sched, c, c["more"], c["first"])
        opt = scheduler_optimizer(c)
        sched = make_scheduler(opt, c)
        run_scheduler(opt, sched, c, c["first"])
        torch.save({"optimizer": opt.state_dict(), "scheduler": loadable_state(sched.state_dict())}, c["theirs"])
        out.append({"continued": continued, "theirs": run_scheduler(opt, sched, c, c["more"], c["first"])})
    return out


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

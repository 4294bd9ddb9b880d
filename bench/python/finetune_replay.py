"""PyTorch trained on torchbridge's own random draws (bench/finetune-replay.js): the finetune
recipe of finetune_recipe.py, but each epoch's order and each image's crop box and flip come from
the draws file, and nothing but dropout uses torch's generator (no DataLoader, which would draw a
seed per epoch), as in torchbridge. Same seed, so the same initial weights and dropout masks.
Usage: finetune_replay.py DATA DRAWS.json EPOCHS BATCH THREADS. Prints JSON lines: steps, epochs."""
import json
import sys
import time

import torch
import torchvision
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import functional as F

data, draws_file, epochs, batch, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
draws = json.load(open(draws_file))
torch.set_num_threads(threads)
torch.manual_seed(draws["seed"])
tensor_norm = T.Compose([T.ToTensor(), T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
val = torchvision.datasets.ImageFolder(f"{data}/val", T.Compose([T.Resize(256), T.CenterCrop(224), tensor_norm]))
samples = draws["samples"]
model = torchvision.models.alexnet()
model.classifier[6] = torch.nn.Linear(4096, 2)
opt = torch.optim.Adam(model.parameters(), lr=1e-4)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
crit = torch.nn.CrossEntropyLoss()


def train_image(i, crop):
    img = Image.open(samples[i][0]).convert("RGB")
    img = F.resized_crop(img, crop["top"], crop["left"], crop["height"], crop["width"], [224, 224])
    if crop["flip"]:
        img = F.hflip(img)
    return tensor_norm(img)


for epoch in range(epochs):
    start = time.perf_counter()
    model.train()
    order, crops = draws["epochs"][epoch]["order"], draws["epochs"][epoch]["crops"]
    loss_sum = correct = seen = 0
    for b in range(0, len(order), batch):
        idx = order[b:b + batch]
        x = torch.stack([train_image(i, crops[i]) for i in idx])
        y = torch.tensor([samples[i][1] for i in idx])
        opt.zero_grad()
        out = model(x)
        loss = crit(out, y)
        loss.backward()
        opt.step()
        print(json.dumps({"event": "step", "epoch": epoch + 1, "loss": loss.item()}), flush=True)
        loss_sum += loss.item() * len(y)
        correct += (out.argmax(1) == y).sum().item()
        seen += len(y)
    sched.step()
    model.eval()
    vc = vn = 0
    with torch.no_grad():
        for b in range(0, len(val), max(batch, 32)):
            items = [val[k] for k in range(b, min(b + max(batch, 32), len(val)))]
            x = torch.stack([it[0] for it in items])
            y = torch.tensor([it[1] for it in items])
            vc += (model(x).argmax(1) == y).sum().item()
            vn += len(y)
    print(json.dumps({"event": "epoch", "epoch": epoch + 1, "trainLoss": loss_sum / seen, "trainAcc": correct / seen, "valAcc": vc / vn,
                      "seconds": time.perf_counter() - start}), flush=True)

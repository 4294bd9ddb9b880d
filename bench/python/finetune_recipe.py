"""PyTorch's side of the finetune-recipe acceptance run (reported, not a test): AlexNet from scratch
(or from --weights) with the same recipe as `node dist/train.js --recipe finetune`.
Usage: finetune_recipe.py DATA EPOCHS BATCH THREADS SEED [IMAGE_SIZE]. Prints one JSON line per epoch.
test/train-cli.test.js runs it on a small generated set: torchbridge must print the same figures."""
import json
import sys
import time

import torch
import torchvision
from torchvision import transforms as T

data, epochs, batch, threads, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
size = int(sys.argv[6]) if len(sys.argv) > 6 else 224
torch.set_num_threads(threads)
torch.manual_seed(seed)
norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
train = torchvision.datasets.ImageFolder(f"{data}/train", T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip(), T.ToTensor(), norm]))
val = torchvision.datasets.ImageFolder(f"{data}/val", T.Compose([T.Resize(round(size * 256 / 224)), T.CenterCrop(size), T.ToTensor(), norm]))
train_loader = torch.utils.data.DataLoader(train, batch_size=batch, shuffle=True)
val_loader = torch.utils.data.DataLoader(val, batch_size=max(batch, 32))
model = torchvision.models.alexnet()
model.classifier[6] = torch.nn.Linear(4096, len(train.classes))
opt = torch.optim.Adam(model.parameters(), lr=1e-4)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
crit = torch.nn.CrossEntropyLoss()
for epoch in range(epochs):
    start = time.perf_counter()
    model.train()
    loss_sum = correct = seen = 0
    for x, y in train_loader:
        opt.zero_grad()
        out = model(x)
        loss = crit(out, y)
        loss.backward()
        opt.step()
        loss_sum += loss.item() * len(y)
        correct += (out.argmax(1) == y).sum().item()
        seen += len(y)
    sched.step()
    model.eval()
    vc = vn = 0
    with torch.no_grad():
        for x, y in val_loader:
            vc += (model(x).argmax(1) == y).sum().item()
            vn += len(y)
    print(json.dumps({"epoch": epoch + 1, "trainLoss": loss_sum / seen, "trainAcc": correct / seen, "valAcc": vc / vn,
                      "seconds": time.perf_counter() - start}), flush=True)

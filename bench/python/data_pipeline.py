"""torchvision's side of bench/data-pipeline.js: ImageFolder with the named pipeline (resize:
Resize(224) + ToTensor; eval: Resize(256) + CenterCrop(224) + ToTensor + Normalize) over a folder,
timed over full passes. Prints JSON."""
import json
import sys
import time

import torch
import torchvision
from torchvision import transforms

root, passes, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pipeline = sys.argv[4] if len(sys.argv) > 4 else "resize"
torch.set_num_threads(threads)
steps = {
    "resize": [transforms.Resize(224), transforms.ToTensor()],
    "eval": [transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])],
}[pipeline]
ds = torchvision.datasets.ImageFolder(root, transform=transforms.Compose(steps))
times = []
for _ in range(passes):
    start = time.perf_counter()
    for i in range(len(ds)):
        ds[i]
    times.append(time.perf_counter() - start)
print(json.dumps({"images": len(ds), "seconds": times}))

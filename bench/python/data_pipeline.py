"""torchvision's side of bench/data-pipeline.js: ImageFolder + Resize(224) + ToTensor over a folder,
timed over full passes. Prints JSON."""
import json
import sys
import time

import torch
import torchvision
from torchvision import transforms

root, passes, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
ds = torchvision.datasets.ImageFolder(root, transform=transforms.Compose([transforms.Resize(224), transforms.ToTensor()]))
times = []
for _ in range(passes):
    start = time.perf_counter()
    for i in range(len(ds)):
        ds[i]
    times.append(time.perf_counter() - start)
print(json.dumps({"images": len(ds), "seconds": times}))

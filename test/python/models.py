"""Reference models for test/models.test.js: torchvision's resnet18/34/50, vgg11_bn, vgg16 and
mobilenet_v2 written out by hand (pip's CPU PyTorch, the one whose version matches the linked
libtorch, has no torchvision): the same classes, child names, construction order and init as
torchvision 0.14's source. The `names` command, run by Debian's torch + torchvision, checks these
copies against torchvision itself (keys, shapes, dtypes and the seeded initial weights).

Usage: models.py COMMAND JSON_ARGS. Prints one JSON object.
"""
import hashlib
import json
import sys

import torch
import torch.nn as nn


# ---- torchvision/models/resnet.py ----

def conv3x3(inp, out, stride=1):
    return nn.Conv2d(inp, out, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(inp, out, stride=1):
    return nn.Conv2d(inp, out, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        width = planes
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ---- torchvision/models/vgg.py ----

CFGS = {"A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
        "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]}


def make_layers(cfg, batch_norm):
    layers, in_channels = [], 3
    for v in cfg:
        if v == "M":
            layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
        else:
            conv2d = nn.Conv2d(in_channels, v, kernel_size=3, padding=1)
            layers += [conv2d, nn.BatchNorm2d(v), nn.ReLU(inplace=True)] if batch_norm else [conv2d, nn.ReLU(inplace=True)]
            in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    def __init__(self, features, num_classes=1000, dropout=0.5):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# ---- torchvision/models/mobilenetv2.py (+ ops.misc.Conv2dNormActivation) ----

class Conv2dNormActivation(nn.Sequential):
    def __init__(self, inp, out, kernel_size=3, stride=1, groups=1):
        super().__init__(nn.Conv2d(inp, out, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(out), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(Conv2dNormActivation(inp, hidden_dim, kernel_size=1))
        layers.extend([Conv2dNormActivation(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim),
                       nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup)])
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, num_classes=1000, dropout=0.2):
        super().__init__()
        input_channel, last_channel = 32, 1280
        features = [Conv2dNormActivation(3, input_channel, stride=2)]
        for t, c, n, s in [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]:
            for i in range(n):
                features.append(InvertedResidual(input_channel, c, s if i == 0 else 1, expand_ratio=t))
                input_channel = c
        features.append(Conv2dNormActivation(input_channel, last_channel, kernel_size=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(last_channel, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


BUILDERS = {
    "resnet18": lambda n: ResNet(BasicBlock, [2, 2, 2, 2], n),
    "resnet34": lambda n: ResNet(BasicBlock, [3, 4, 6, 3], n),
    "resnet50": lambda n: ResNet(Bottleneck, [3, 4, 6, 3], n),
    "vgg11_bn": lambda n: VGG(make_layers(CFGS["A"], True), n),
    "vgg16": lambda n: VGG(make_layers(CFGS["D"], False), n),
    "mobilenet_v2": lambda n: MobileNetV2(n),
}


def digest(t):
    return hashlib.sha256(t.detach().contiguous().numpy().tobytes()).hexdigest()


def layout(model):
    return [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()]


def cmd_names(spec):
    """torchvision's layout (and URLs) next to the hand-built copies', and whether the same seed
    gives both the same initial weights. Run by Debian's torch + torchvision."""
    import torchvision
    out = {}
    for arch in spec["archs"]:
        torch.manual_seed(spec["seed"])
        theirs = getattr(torchvision.models, arch)(num_classes=spec["numClasses"])
        torch.manual_seed(spec["seed"])
        ours = BUILDERS[arch](spec["numClasses"])
        a, b = theirs.state_dict(), ours.state_dict()
        weights = torchvision.models.get_model_weights(arch).DEFAULT
        out[arch] = {"torchvision": layout(theirs), "copy": layout(ours),
                     "sameInit": list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a) if arch in spec["initArchs"] else None,
                     "defaultUrl": weights.url}
    return out


def cmd_init(spec):
    """The seeded initial weights' SHA-256 per state_dict entry, per arch (torchbridge's init must
    draw the same)."""
    out = {}
    for arch in spec["archs"]:
        torch.manual_seed(spec["seed"])
        out[arch] = {k: digest(v) for k, v in BUILDERS[arch](spec["numClasses"]).state_dict().items()}
    return out


def parity_case(spec, dir):
    """Seeded weights and batch saved for torchbridge; the eval output, then `steps` train-mode
    steps (BatchNorm updating its running stats, dropout drawing from the reseeded generator) and
    the SHA-256 of every state_dict entry after them."""
    torch.manual_seed(spec["seed"])
    model = BUILDERS[spec["arch"]](spec["numClasses"])
    x = torch.rand(spec["batch"], 3, spec["size"], spec["size"])
    y = torch.randint(0, spec["numClasses"], (spec["batch"],))
    torch.save(model.state_dict(), f"{dir}/{spec['arch']}-weights.pth")
    torch.save({"x": x, "y": y}, f"{dir}/{spec['arch']}-batch.pth")
    model.eval()
    with torch.no_grad():
        out = model(x)
    model.train()
    torch.manual_seed(spec["seed"] + 1)
    if spec["optimizer"] == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=spec["lr"])
    else:
        opt = torch.optim.SGD(model.parameters(), lr=spec["lr"], momentum=0.9)
    crit = nn.CrossEntropyLoss()
    losses, train_out = [], []
    for _ in range(spec["steps"]):
        opt.zero_grad()
        logits = model(x)
        loss = crit(logits, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        train_out.append(logits.detach().flatten().tolist())
    return {"eval": out.flatten().tolist(), "losses": losses, "trainOutputs": train_out,
            "after": {k: digest(v) for k, v in model.state_dict().items()}}


def cmd_parity(spec):
    """parity_case for each of spec["cases"] (one process: PyTorch's import is the slow part)."""
    torch.set_num_threads(spec["threads"])
    return {c["arch"]: parity_case({**spec["base"], **c}, spec["dir"]) for c in spec["cases"]}


def cmd_layers(spec):
    """BatchNorm2d in each configuration through `steps` train-mode forwards and backwards, then an
    eval forward; a grouped Conv2d and ReLU6 forward and backward. Inputs saved for torchbridge."""
    torch.set_num_threads(spec["threads"])
    torch.manual_seed(spec["seed"])
    xs = [torch.randn(4, 3, 5, 5) for _ in range(spec["steps"] + 1)]
    g = torch.randn(4, 3, 5, 5)
    conv_x = torch.randn(2, 4, 6, 6)
    torch.save({"xs": xs, "g": g, "conv_x": conv_x}, spec["file"])
    out = {}
    for i, case in enumerate(spec["bn"]):
        bn = nn.BatchNorm2d(3, **case)
        if bn.weight is not None:
            with torch.no_grad():
                bn.weight.copy_(torch.tensor([0.5, 1.0, 1.5]))
                bn.bias.copy_(torch.tensor([-0.2, 0.0, 0.2]))
        outputs = []
        for x in xs[:-1]:
            x = x.clone().requires_grad_(True)
            y = bn(x)
            (y * g).sum().backward()
            outputs.append(y.detach().flatten().tolist() + x.grad.flatten().tolist())
        bn.eval()
        with torch.no_grad():
            outputs.append(bn(xs[-1]).flatten().tolist())
        out[str(i)] = {"outputs": outputs, "state": {k: v.flatten().tolist() for k, v in bn.state_dict().items()},
                       "grads": [p.grad.flatten().tolist() for p in bn.parameters()]}
    torch.manual_seed(spec["seed"])
    conv = nn.Conv2d(4, 6, 3, padding=1, groups=2)
    x = conv_x.clone().requires_grad_(True)
    y = nn.functional.relu6(conv(x) * 4)
    y.sum().backward()
    out["conv"] = {"y": y.detach().flatten().tolist(), "xGrad": x.grad.flatten().tolist(),
                   "wGrad": conv.weight.grad.flatten().tolist(), "bGrad": conv.bias.grad.flatten().tolist()}
    return out


if __name__ == "__main__":
    print(json.dumps(globals()["cmd_" + sys.argv[1]](json.loads(sys.argv[2]))))

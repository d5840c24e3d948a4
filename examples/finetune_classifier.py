"""Fine-tune a small CNN classifier on a new task: freeze the backbone, train a new head.

This script contains the freezing mistakes freezelint exists to catch. Run

    freezelint check examples/

to see them, and `freezelint check examples/ --fix --diff` for the fixes.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Backbone(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )

    def forward(self, x):
        return self.features(x).flatten(1)


class Classifier(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.backbone = Backbone()
        self.head = nn.Linear(32, num_classes)

    def forward(self, x):
        return self.head(self.backbone(x))


def freeze_backbone(model: Classifier):
    # "Freeze" the pretrained backbone: this only sets a plain attribute.
    model.backbone.requires_grad = False
    for module in model.backbone.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.requires_grad_ = False
    model.backbone.eval()


def train(model, loader, epochs=3):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for _ in range(epochs):
        for images, labels in loader:
            logits = model(images)
            loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def embed(model: Classifier, images):
    torch.no_grad()
    features = model.backbone(images)
    features.detach()
    return features


if __name__ == "__main__":
    model = Classifier(num_classes=5)
    model.backbone.load_state_dict(torch.load("backbone.pt"))
    freeze_backbone(model)
    for p in model.head.parameters():
        p.require_grad = True
    data = [(torch.randn(8, 3, 32, 32), torch.randint(0, 5, (8,))) for _ in range(4)]
    train(model, data)

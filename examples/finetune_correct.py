"""The same fine-tuning, written correctly: freezelint reports nothing here."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Classifier(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(32, num_classes)

    def forward(self, x):
        return self.head(self.backbone(x))

    def train(self, mode=True):
        super().train(mode)
        self.backbone.eval()  # keep frozen BatchNorm statistics fixed
        return self


def main():
    model = Classifier(num_classes=5)
    model.backbone.requires_grad_(False)
    for p in model.head.parameters():
        p.requires_grad = True
    optimizer = torch.optim.AdamW(
        (p for p in model.parameters() if p.requires_grad), lr=1e-3, weight_decay=0.01
    )
    data = [(torch.randn(8, 3, 32, 32), torch.randint(0, 5, (8,))) for _ in range(4)]
    for images, labels in data:
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        features = model.backbone(data[0][0]).detach()
    return features


if __name__ == "__main__":
    main()

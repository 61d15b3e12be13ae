"""Per-modality reconstruction losses and the (user-supplied-network) perceptual loss."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from omnimask.tokenizers.losses import MODALITY_LOSSES, PerceptualLoss, reconstruction_loss

G = torch.Generator().manual_seed(0)


def pair(name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(perfect prediction, target, poor prediction) for loss ``name``."""
    if name == "cross_entropy":
        target = torch.randint(0, 4, (2, 3, 3), generator=G)
        perfect = F.one_hot(target, 4).movedim(-1, 1).float() * 50
        return perfect, target, -perfect
    if name == "bce":
        target = (torch.rand(2, 1, 3, 3, generator=G) > 0.5).float()
        return (target * 2 - 1) * 50, target, (1 - 2 * target) * 50
    target = torch.randn(2, 3, 3, 3, generator=G)
    return target.clone(), target, -target


@pytest.mark.parametrize("name", sorted(set(MODALITY_LOSSES.values()) | {"l1", "cosine"}))
def test_each_loss_is_zero_for_a_perfect_prediction_and_positive_otherwise(name):
    perfect, target, poor = pair(name)
    assert reconstruction_loss(name, perfect, target).item() == pytest.approx(0.0, abs=1e-6)
    assert reconstruction_loss(name, poor, target).item() > 0.5


def test_cosine_ignores_vector_length_and_shape_errors_are_clear():
    target = torch.randn(1, 3, 2, 2, generator=G)
    assert reconstruction_loss("cosine", 5 * target, target).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="differ"):
        reconstruction_loss("mse", target, target[:, :2])
    with pytest.raises(ValueError, match="class ids"):
        reconstruction_loss("cross_entropy", target, target)
    with pytest.raises(ValueError, match="unknown reconstruction loss"):
        reconstruction_loss("hinge", target, target)


def test_perceptual_loss_compares_normalised_features_of_a_frozen_network():
    net = nn.Conv2d(3, 4, 3, padding=1)
    features = PerceptualLoss(lambda x: [net(x), net(x).relu()], weights=[1.0, 0.5])
    assert all(p.requires_grad for p in net.parameters())  # a plain callable is left as it is
    frozen = PerceptualLoss(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1)))
    assert not any(p.requires_grad for p in frozen.features.parameters())
    image = torch.rand(1, 3, 8, 8, generator=G)
    pred = (image + 0.3 * torch.randn(1, 3, 8, 8, generator=G)).requires_grad_()
    assert features(image, image).item() == pytest.approx(0.0, abs=1e-7)
    loss = frozen(pred, image)
    loss.backward()
    assert loss.item() > 0 and pred.grad.abs().sum() > 0

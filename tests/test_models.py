"""SigNet architecture facts (notes section 3) and the sigver weight format."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sigbench.features.models import EmbeddingModel, SigNet, TimmBackbone
from sigbench.features.weights import read_sigver_weights, signet_from_sigver, write_sigver_weights


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_signet_matches_the_paper() -> None:
    model = SigNet()
    # ~15.8 M parameters: conv 34.8k + 614k + 885k + 1.33M + 885k, fc 7.86M + 4.19M, BN 2 x channels
    assert n_params(model) == 15_792_160
    assert all(m.bias is None for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    out = model.eval()(torch.rand(2, 1, 150, 220))
    assert out.shape == (2, 2048) and bool((out >= 0).all())  # ReLU features are non-negative


def test_flattened_conv_output_is_256x3x5() -> None:
    model = SigNet()
    assert model.conv_layers(torch.rand(1, 1, 150, 220)).shape == (1, 256, 3, 5)


@pytest.mark.parametrize(("variant", "dim", "convs"), [("thin", 1024, 5), ("smaller", 2048, 4)])
def test_variants(variant: str, dim: int, convs: int) -> None:
    model = SigNet(variant)
    assert model.feature_dim == dim
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == convs
    assert model(torch.rand(2, 1, 150, 220)).shape == (2, dim)


def test_unknown_variant_is_named() -> None:
    with pytest.raises(ValueError, match="model.variant='wide'"):
        SigNet("wide")


def test_sigver_key_names() -> None:
    keys = set(SigNet().state_dict())
    assert {
        "conv_layers.conv1.conv.weight",
        "conv_layers.conv1.bn.running_mean",
        "fc_layers.fc1.fc.weight",
        "fc_layers.fc2.bn.weight",
    } <= keys


def test_weight_file_round_trip(tmp_path) -> None:
    torch.manual_seed(0)
    backbone, head, forg = SigNet(), nn.Linear(2048, 7), nn.Linear(2048, 1)
    backbone.eval()
    path = write_sigver_weights(tmp_path / "w.pth", backbone, head, forg)
    raw = torch.load(path, weights_only=True)
    assert isinstance(raw, tuple) and len(raw) == 3 and set(raw[1]) == {"weight", "bias"}
    weights = read_sigver_weights(path)
    assert weights.num_classes == 7
    loaded = signet_from_sigver(path).eval()
    x = torch.rand(3, 1, 150, 220)
    torch.testing.assert_close(loaded(x), backbone(x))


def test_weight_file_without_forgery_head_and_wrong_variant(tmp_path) -> None:
    path = write_sigver_weights(tmp_path / "w.pth", SigNet("thin"), nn.Linear(1024, 3))
    assert read_sigver_weights(path).forgery_head == {}
    with pytest.raises(ValueError, match="does not match the configured model"):
        signet_from_sigver(path, variant="signet")


def test_not_a_weight_file(tmp_path) -> None:
    path = tmp_path / "x.pth"
    torch.save({"a": 1}, path)
    with pytest.raises(ValueError, match="not a sigver weight file"):
        read_sigver_weights(path)


def test_timm_backbone_with_embedding_head() -> None:
    model = EmbeddingModel(TimmBackbone("resnet18"), embedding_dim=16, normalize=True)
    out = model(torch.rand(2, 1, 150, 220))
    assert out.shape == (2, 16)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2))
    with pytest.raises(ValueError, match="not a timm model"):
        TimmBackbone("no_such_net")

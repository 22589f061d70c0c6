"""The volume baselines' input: real slices resampled linearly to a cube (padding never read), its three central planes,
and the ResNet-18s built on them (MONAI backbone, the head named `classifier` for transfer learning)."""

from __future__ import annotations

import pytest
import torch

from medrnn.data.batch import make_batch
from medrnn.errors import ConfigError
from medrnn.models import create_model
from medrnn.models.cube import central_planes, slices_to_cube
from medrnn.train.transfer import is_head


def test_slices_are_resampled_linearly_from_real_slices_only() -> None:
    x = torch.full((3, 5, 2), 99.0)  # 99: padding, never to be read
    x[0, :5] = torch.arange(5.0)[:, None]
    x[1, :1] = 7.0
    x[2, :3] = torch.tensor([0.0, 10.0, 20.0])[:, None]
    cube = slices_to_cube(x, torch.tensor([5, 1, 3]), depth=9)
    assert cube.shape == (3, 9, 2)
    assert torch.allclose(cube[0, :, 0], torch.linspace(0, 4, 9))  # 5 slices on 9 planes: every half step
    assert torch.all(cube[1] == 7.0)  # one slice: repeated
    assert torch.allclose(cube[2, :, 1], torch.linspace(0, 20, 9))
    assert torch.allclose(slices_to_cube(x, torch.tensor([5, 1, 3]), depth=1)[0], torch.full((2,), 2.0))  # the middle


def test_central_planes_are_axial_coronal_sagittal() -> None:
    n = 5
    d, h, w = torch.meshgrid(torch.arange(n), torch.arange(n), torch.arange(n), indexing="ij")
    cube = (100 * d + 10 * h + w).float()[None, None]  # (1, 1, n, n, n)
    planes = central_planes(cube)
    assert planes.shape == (1, 3, n, n)
    assert torch.all(planes[0, 0] // 100 == 2) and torch.all(planes[0, 1] % 100 // 10 == 2) and torch.all(planes[0, 2] % 10 == 2)
    even = central_planes(torch.arange(64.0).view(1, 1, 4, 4, 4))
    assert torch.allclose(even[0, 0], torch.arange(64.0).view(4, 4, 4)[1:3].mean(0))  # even side: the two middle planes


@pytest.mark.parametrize("name", ["resnet3d", "resnet2p5d"])
def test_resnet_baselines_read_slices_and_keep_a_classifier_head(name: str) -> None:
    pytest.importorskip("monai")
    model = create_model(name, input_size=2 * 16 * 16, in_channels=2, num_classes=3, widen_factor=0.125).eval()
    assert type(model.backbone).__module__.startswith("monai.")
    head = [n for n, _ in model.named_parameters() if is_head(n.split(".")[0])]
    assert head and all(n.startswith("classifier.") for n in head)
    batch = make_batch(torch.randn(2, 7, 512), lengths=torch.tensor([7, 1]))
    assert model(batch).logits.shape == (2, 3)
    with pytest.raises(ConfigError, match="widen_factor"):
        create_model(name, input_size=256, num_classes=2, widen_factor=0)
    with pytest.raises(ConfigError, match="in_channels"):
        create_model(name, input_size=250, num_classes=2)

"""Vision models: output shapes at every depth, torchvision parameter counts, hookable stage names."""
import pytest
import torch

from distill.errors import DistillError
from distill.models import MODELS, build_model
from distill.models.cnn import SmallCNN
from distill.models.resnet import ResNet, StridedPointwise


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny convolutions run fastest on one thread, and do not stall when other jobs share the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def hooked_shapes(model: torch.nn.Module, names: list[str], x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """Output shape of each named submodule, taken by forward hooks during one forward pass."""
    shapes = {}
    for name in names:
        model.get_submodule(name).register_forward_hook(
            lambda module, inputs, output, name=name: shapes.update({name: tuple(output.shape)}))
    model(x)
    return shapes


def test_registry_names():
    assert MODELS["cnn"] is SmallCNN
    assert MODELS["resnet"] is ResNet


@pytest.mark.parametrize("depth", [8, 14, 20, 32, 18, 34, 50])
def test_resnet_output_shape(depth):
    model = build_model("resnet", (1, 16, 16), 10, depth=depth, width=0.125)
    assert model(torch.rand(2, 1, 16, 16)).shape == (2, 10)


@pytest.mark.parametrize("depth", [101, 152])
def test_deep_resnets_run_at_narrow_width(depth):
    model = ResNet((1, 16, 16), 10, depth=depth, width=0.0625)
    assert model(torch.rand(2, 1, 16, 16)).shape == (2, 10)


@pytest.mark.parametrize("depth, params", [(18, 11_689_512), (50, 25_557_032)])
def test_resnet_matches_torchvision_parameter_count(depth, params):
    model = ResNet((3, 224, 224), 1000, depth=depth, width=1.0, small_input=False)
    assert count_params(model) == params


def test_resnet_stage_widths_scale_with_a_floor():
    model = ResNet((1, 16, 16), 10, depth=18, width=0.125)
    assert [model.get_submodule(f"layer{i}")[-1].bn2.num_features for i in range(1, 5)] == [8, 16, 32, 64]
    tiny = ResNet((1, 16, 16), 10, depth=18, width=0.01)
    assert tiny.get_submodule("layer1")[0].conv1.out_channels == 4


def test_resnet_stages_can_be_hooked_by_module_path():
    model = ResNet((1, 16, 16), 10, depth=50, width=0.0625)
    shapes = hooked_shapes(model, ["layer1", "layer3", "layer4"], torch.rand(2, 1, 16, 16))
    assert shapes == {"layer1": (2, 16, 16, 16), "layer3": (2, 64, 4, 4), "layer4": (2, 128, 2, 2)}


def test_cifar_resnet_has_three_stages():
    model = ResNet((3, 32, 32), 10, depth=20)
    assert model.stage_names == ("layer1", "layer2", "layer3")
    assert model.get_submodule("layer3")[0].conv1.out_channels == 64
    with pytest.raises(AttributeError):
        model.get_submodule("layer4")


def test_imagenet_stem_downsamples_by_four():
    model = ResNet((3, 32, 32), 5, depth=18, width=0.125, small_input=False)
    assert model.stem(torch.rand(2, 3, 32, 32)).shape == (2, 8, 8, 8)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 5)


def test_strided_pointwise_is_a_strided_1x1_convolution():
    torch.manual_seed(0)
    pointwise, plain = StridedPointwise(4, 8, 2), torch.nn.Conv2d(4, 8, 1, stride=2, bias=False)
    plain.weight.data.copy_(pointwise.weight.data)
    x = torch.randn(3, 4, 9, 9)
    assert torch.allclose(pointwise(x), plain(x), atol=1e-6) and pointwise(x).shape == (3, 8, 5, 5)


def test_a_channels_last_batch_trains_a_resnet_with_the_gradients_of_the_usual_layout():
    """oneDNN 3.12's strided 1x1 weight gradient crashed (or erred) on channels-last input on AVX2-only CPUs."""
    torch.manual_seed(0)
    model = build_model("resnet_cifar", (3, 16, 16), 10, depth=8, channels=[4, 4, 8, 8])
    x = torch.randn(8, 3, 16, 16)
    grads = []
    for batch in (x, x.contiguous(memory_format=torch.channels_last)):
        model.zero_grad()
        model(batch).logsumexp(1).mean().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(*grads))


def test_resnet_sigmoid_output():
    out = ResNet((1, 8, 8), 3, depth=8, width=0.25, output="sigmoid")(torch.rand(2, 1, 8, 8))
    assert ((out > 0) & (out < 1)).all()


@pytest.mark.parametrize("options, message", [
    ({"depth": 19}, "allowed: 8, 14, 18, 20"),
    ({"width": 0}, "positive multiplier"),
])
def test_resnet_rejects_bad_options(options, message):
    with pytest.raises(DistillError, match=message):
        ResNet((1, 16, 16), 10, **options)


@pytest.mark.parametrize("family", ["cnn", "resnet"])
def test_vision_models_need_image_shapes(family):
    with pytest.raises(DistillError, match=r"\(channels, height, width\)"):
        build_model(family, (16, 16), 10)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 16, 16), (1, 28, 28), (3, 32, 32)])
def test_cnn_output_shape(shape):
    model = build_model("cnn", shape, 10, channels=[8, 16], hidden=32, dropout=0.2)
    assert model(torch.rand(4, *shape)).shape == (4, 10)


def test_cnn_feature_stages_can_be_hooked():
    model = SmallCNN((1, 16, 16), 10, channels=[8, 16, 32])
    shapes = hooked_shapes(model, ["features.0", "features.2"], torch.rand(2, 1, 16, 16))
    assert shapes == {"features.0": (2, 8, 8, 8), "features.2": (2, 32, 2, 2)}


def test_cnn_rejects_too_many_blocks_for_the_image():
    with pytest.raises(DistillError, match="too small for 4 conv blocks"):
        SmallCNN((1, 8, 8), 10, channels=[8, 8, 8, 8])


def test_cnn_rejects_empty_channels():
    with pytest.raises(DistillError, match="channels"):
        SmallCNN((1, 8, 8), 10, channels=[])

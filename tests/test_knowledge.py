"""The shipped library knowledge base (freezelint/static/knowledge/libraries.json) and its loader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from freezelint.static import knowledge as kb

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))  # not shipped
from knowledge_gen.build import build, restrict  # noqa: E402
from knowledge_gen.sources import installed_root  # noqa: E402
from knowledge_gen.summarize import summarize_source  # noqa: E402


@pytest.mark.slow
def test_torch_part_matches_a_regeneration_from_the_installed_torch():
    root = installed_root("torch")
    assert root is not None, "the dev environment has torch installed"
    fresh = build({"torch": (root, "installed")}, cache=None, log=lambda msg: None)
    with open(kb._PATH, encoding="utf-8") as fh:
        shipped = json.load(fh)
    want, got = restrict(shipped, "torch"), restrict(fresh, "torch")
    got["source"] = want["source"]  # the version label; the entries must match exactly
    for section in want:
        assert got[section] == want[section], f"section {section!r} differs: run scripts/gen_knowledge.py"


@pytest.mark.parametrize("name", ["torch.nn.Dropout", "torch.nn.ReLU", "torch.nn.Identity", "torch.nn.MaxPool2d",
                                  "torch.nn.Flatten", "torch.nn.Upsample", "torch.nn.GELU"])
def test_parameter_free_torch_modules(name):
    info = kb.module_class(name)
    assert info is not None and info.has_params is False and info.has_batchnorm is False


@pytest.mark.parametrize("name", ["torch.nn.Linear", "torch.nn.Conv2d", "torch.nn.BatchNorm2d", "torch.nn.LayerNorm",
                                  "torch.nn.Embedding", "torch.nn.LSTM"])
def test_modules_with_parameters(name):
    assert kb.module_class(name).has_params is True


def test_batchnorm_facts():
    assert kb.module_class("torch.nn.BatchNorm2d").has_batchnorm is True
    assert kb.module_class("torch.nn.SyncBatchNorm").has_batchnorm is True
    assert kb.module_class("torch.nn.LayerNorm").has_batchnorm is False
    assert kb.module_class("torch.nn.InstanceNorm2d").has_batchnorm is False
    resnet = kb.module_class("torchvision.models.ResNet")
    assert resnet.qualname == "torchvision.models.resnet.ResNet"
    assert resnet.has_batchnorm is True and resnet.has_params is True
    frozen = kb.module_class("torchvision.ops.FrozenBatchNorm2d")
    assert frozen is not None and frozen.has_batchnorm is False


def test_containers_and_train_overrides():
    assert kb.module_class("torch.nn.Sequential").container is True
    assert kb.module_class("torch.nn.Sequential").has_params is None  # per instance
    assert kb.module_class("torch.nn.Linear").container is False
    assert kb.module_class("torch.nn.parallel.DistributedDataParallel").overrides_train is True
    assert kb.module_class("torch.nn.Linear").overrides_train is False


def test_resolve_follows_reexports():
    assert kb.resolve("torch.nn.Linear") == "torch.nn.modules.linear.Linear"
    assert kb.resolve("torch.nn.modules.linear.Linear") == "torch.nn.modules.linear.Linear"
    assert kb.resolve("torch.optim.AdamW") == "torch.optim.adamw.AdamW"
    assert kb.resolve("transformers.BertModel") == "transformers.models.bert.modeling_bert.BertModel"
    assert kb.resolve("not_a_library.Thing") is None
    assert kb.mro("torch.nn.Linear") == ("torch.nn.modules.linear.Linear", kb.MODULE)


def test_library_module_classes():
    assert kb.is_module_class("transformers.BertModel")
    assert kb.module_class("transformers.BertModel").pretrained is True
    assert kb.is_module_class("diffusers.UNet2DConditionModel")
    assert kb.is_module_class("peft.PeftModel")
    assert kb.is_module_class("lightning.LightningModule") or kb.is_module_class("lightning.pytorch.LightningModule")
    assert kb.is_module_class("sentence_transformers.SentenceTransformer")
    assert not kb.is_module_class("transformers.AutoTokenizer")
    assert not kb.is_module_class("torch.optim.SGD")


def test_factories():
    assert kb.factory("timm.create_model") is not None
    assert kb.factory("torchvision.models.resnet50").returns == ("torchvision.models.resnet.ResNet",)
    assert kb.factory("transformers.AutoTokenizer.from_pretrained") is None
    assert kb.non_module_pretrained("transformers.AutoTokenizer.from_pretrained") == "tokenizer"
    assert kb.non_module_pretrained("transformers.BertConfig") == "config"
    bert = kb.factory("transformers.BertModel.from_pretrained")
    assert bert.returns == ("transformers.models.bert.modeling_bert.BertModel",)
    assert kb.factory("transformers.AutoModel.from_pretrained").returns == ("transformers.modeling_utils.PreTrainedModel",)
    clip = kb.factory("open_clip.create_model_and_transforms")
    assert clip is not None and clip.tuple_index == 0
    assert kb.factory("peft.get_peft_model") is not None
    assert kb.factory("torch.nn.Linear") is None  # a class, not a factory


def test_registries():
    builder = kb.registered("timm.models._registry.register_model", "resnet50")
    assert builder is not None and kb.factory(builder).returns == ("timm.models.resnet.ResNet",)


def test_returns_self_is_derived_from_torch():
    for m in ("to", "cuda", "cpu", "float", "half", "train", "eval", "requires_grad_", "apply"):
        assert kb.returns_self(m), m
    for m in ("parameters", "state_dict", "zero_grad", "forward", "register_buffer"):
        assert not kb.returns_self(m), m
    assert kb.returns_self("to", "torch.nn.Linear")
    assert not kb.returns_self("to", "torch.distributed.nn.api.remote_module._RemoteModule")  # returns None
    # mmpretrain's backbones override train() without `return self`; Module.eval returns self.train(False)
    assert not kb.returns_self("train", "mmpretrain.models.ResNet")
    assert not kb.returns_self("eval", "mmpretrain.models.backbones.resnet.ResNetV1c")
    assert kb.returns_self("cuda", "mmpretrain.models.ResNet")


def test_wrappers_and_unwrappers():
    ddp = kb.wrapper("torch.nn.parallel.DistributedDataParallel")
    assert ddp["kind"] == "ddp" and ddp["inner"] == "module" and ddp["arg"] == 0
    assert kb.wrapper("torch.compile")["inner"] == "_orig_mod"
    assert kb.wrapper("accelerate.Accelerator.prepare")["only_trainable"] is True
    assert kb.wrapper("deepspeed.initialize")["index"] == 0
    assert kb.unwrapper("accelerate.Accelerator.unwrap_model") == {"arg": 0}
    assert "torch._dynamo.eval_frame.OptimizedModule" in kb.unwrap_attribute("_orig_mod")
    assert kb.wrapper("torch.nn.Linear") is None


def test_optimizers():
    assert kb.is_optimizer_class("torch.optim.AdamW")
    assert kb.is_optimizer_class("bitsandbytes.optim.AdamW8bit")  # through Optimizer8bit
    assert kb.is_optimizer_class("transformers.optimization.Adafactor")
    assert kb.is_optimizer_class("torch.optim.Optimizer")
    assert not kb.is_optimizer_class("torch.nn.Linear")


def test_loader_imports_nothing_heavy_and_reads_lazily():
    code = textwrap.dedent(
        """
        import sys
        import freezelint.static.knowledge as kb
        assert kb._DATA is None, "read at import"
        kb.resolve("torch.nn.Linear")
        assert kb._DATA is not None
        bad = [m for m in ("torch", "libcst", "knowledge_gen") if m in sys.modules]
        assert not bad, bad
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_generator_follows_lazy_import_structures():
    s = summarize_source(
        textwrap.dedent(
            """
            from typing import TYPE_CHECKING
            _import_structure = {"models.bert": ["BertModel"]}
            _import_structure["trainer"] = ["Trainer"]
            if TYPE_CHECKING:
                from .configuration_utils import PretrainedConfig
            try:
                from .fast import Fast
            except ImportError:
                from .utils.dummy import Fast
            """
        ),
        "pkg",
        True,
    )
    assert s.bindings["BertModel"] == [(1, "pkg.models.bert.BertModel")]
    assert s.bindings["Trainer"] == [(1, "pkg.trainer.Trainer")]
    assert s.bindings["PretrainedConfig"] == [(0, "pkg.configuration_utils.PretrainedConfig")]
    assert sorted(s.bindings["Fast"]) == [(0, "pkg.fast.Fast"), (1, "pkg.utils.dummy.Fast")]


def test_facts_of_a_type_are_weakened_where_subclasses_differ():
    module = kb.module_class("torch.nn.Module")
    assert module.has_params is False  # nn.Module() itself holds nothing...
    assert module.as_type() == (None, None)  # ...but `m: nn.Module` may be anything
    assert kb.module_class("torch.nn.Dropout").as_type() == (False, False)
    assert kb.module_class("torch.nn.DataParallel").has_params is None  # holds whatever it wraps


def test_mm_registries_and_container_subclasses():
    assert kb.registered("mmpretrain.registry.MODELS", "ResNet") == "mmpretrain.models.backbones.resnet.ResNet"
    assert kb.factory("mmpretrain.registry.MODELS.build").returns == (kb.MODULE,)
    conv_bn = kb.module_class("torchvision.ops.misc.Conv2dNormActivation")  # Sequential(*[conv, norm_layer(), act])
    assert conv_bn.container and conv_bn.has_params is True and conv_bn.has_batchnorm is True


def test_generator_cli_rejects_bad_arguments():
    script = os.path.join(os.path.dirname(__file__), os.pardir, "scripts", "gen_knowledge.py")
    for bad in (["--only", "nosuchlib"], ["--source", "torch=/no/such/folder"]):
        res = subprocess.run([sys.executable, script, *bad], capture_output=True, text=True)
        assert res.returncode == 2 and res.stdout == ""
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


FAKE_TORCH = {
    "torch/__init__.py": "from torch import nn\n",
    "torch/nn/__init__.py": "from .modules import *\nfrom .parameter import Parameter\n",
    "torch/nn/parameter.py": "class Parameter:\n    pass\n",
    "torch/nn/modules/__init__.py": textwrap.dedent(
        """
        from .module import Module
        from .batchnorm import BatchNorm2d
        from .container import Sequential
        from .linear import Linear, Identity
        __all__ = ["Module", "BatchNorm2d", "Sequential", "Linear", "Identity"]
        """
    ),
    "torch/nn/modules/module.py": textwrap.dedent(
        """
        class Module:
            def __init__(self):
                self.training = True
            def train(self, mode: bool = True):
                self.training = mode
                return self
            def eval(self):
                return self.train(False)
            def state_dict(self):
                return {}
        """
    ),
    "torch/nn/modules/batchnorm.py": textwrap.dedent(
        """
        from .module import Module
        from ..parameter import Parameter
        import torch
        class _NormBase(Module):
            def __init__(self, num_features: int, affine: bool = True):
                super().__init__()
                if affine:
                    self.weight = Parameter(torch.empty(num_features))
        class _BatchNorm(_NormBase):
            pass
        class BatchNorm2d(_BatchNorm):
            pass
        """
    ),
    "torch/nn/modules/container.py": "from .module import Module\nclass Sequential(Module):\n    pass\n",
    "torch/nn/modules/linear.py": textwrap.dedent(
        """
        from .module import Module
        from ..parameter import Parameter
        import torch
        class Identity(Module):
            def __init__(self, *args, **kwargs):
                super().__init__()
        class Linear(Module):
            def __init__(self, in_features: int, out_features: int):
                super().__init__()
                self.weight = Parameter(torch.empty(out_features, in_features))
        """
    ),
    "torch/models.py": textwrap.dedent(
        """
        from typing import TypeVar
        import torch.nn as nn
        T = TypeVar("T", bound=nn.Module)
        class Net(nn.Module):  # norm_layer defaults to BatchNorm2d
            def __init__(self, norm_layer=None):
                super().__init__()
                if norm_layer is None:
                    norm_layer = nn.BatchNorm2d
                self.fc = nn.Linear(2, 2)
                self.bn = norm_layer(2)
        class Block(nn.Sequential):  # the children go to Sequential.__init__
            def __init__(self, dim: int):
                layers = [nn.Linear(dim, dim), nn.Identity()]
                super().__init__(*layers)
        class Holder(nn.Module):  # keeps whatever it is given
            def __init__(self, inner: T):
                super().__init__()
                self.inner = inner
        class Plain(nn.Module):
            def __init__(self, p: float = 0.5, num_heads=8):
                super().__init__()
                self.p = p
                self.names = []
                for i in range(num_heads):
                    self.names.append(f"head{i}")  # appending to a plain list registers nothing
        def make_net() -> Net:
            return Net()
        """
    ),
}


def test_generator_decides_facts_from_class_bodies(tmp_path):
    for rel, text in FAKE_TORCH.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    data = build({"torch": (str(tmp_path), "fake")}, cache=None, log=lambda msg: None)
    flags = {f"{g}.{n}": e[1] for g, packed in data["modules"].items() for n, e in kb.unpack("modules", g, packed).items()}
    assert "P" in flags["torch.models.Net"] and "B" in flags["torch.models.Net"]
    assert "P" in flags["torch.models.Block"] and "b" in flags["torch.models.Block"] and "C" in flags["torch.models.Block"]
    assert not set("PpBb") & set(flags["torch.models.Holder"])  # unknown: a TypeVar bound to Module
    assert "p" in flags["torch.models.Plain"] and "b" in flags["torch.models.Plain"]
    assert "p" in flags["torch.nn.modules.linear.Identity"] and "B" in flags["torch.nn.modules.batchnorm.BatchNorm2d"]
    assert data["factories"]["torch.models"]["make_net"] == [["Net"]]
    assert data["returns_self"] == ["eval", "train"]
    aliases = kb.unpack("aliases", "torch.nn", data["aliases"]["torch.nn"])
    assert aliases["Linear"] == "torch.nn.modules.linear.Linear" and aliases["Identity"].endswith("linear.Identity")

"""The kinds of values the static pass tells apart, and the vocabulary that decides them.

A `Kind` says what an expression evaluates to (an nn.Module, a tensor, an iterable
of parameters, a state_dict, an optimizer, an imported name...). Conflicting
evidence joins to UNKNOWN, and rules stay silent on UNKNOWN.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from freezelint.static.parse.astutil import bool_literal, keyword

# --- kinds -------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    tag: str
    detail: object = None  # MODULE: project class name; REF: qualified name; TUPLE/NAMED/LIST: element kinds

    def is_module(self) -> bool:
        return self.tag in (MODULE, CONTAINER)


MODULE = "module"  # an nn.Module instance
CONTAINER = "container"  # an nn.Module whose iteration/indexing yields Modules (Sequential, ModuleList)
TENSOR = "tensor"  # a Tensor or Parameter
PARAM_CONTAINER = "param_container"  # ParameterList / ParameterDict
PARAM_ITER = "param_iter"  # iterable of Parameters/Tensors
MODULE_ITER = "module_iter"  # iterable of Modules
STATE_DICT = "state_dict"  # detached copies of parameters (no keep_vars)
SD_VALUE = "sd_value"  # a tensor taken out of a state_dict: a detached copy
SD_ITEMS = "sd_items"
SD_VALUES = "sd_values"
OPTIMIZER = "optimizer"
TUPLE = "tuple"  # detail: tuple of Kind
LIST = "list"  # iterable whose elements have kind `detail`
REF = "ref"  # an imported/qualified name, detail: "torch.nn.Linear"
CLASS = "class"  # a class defined in this file, detail: name
FUNC = "func"  # a function defined in this file, detail: name
OTHER = "other"  # str, int, bool... (known not to be a Module or tensor)
UNKNOWN_TAG = "unknown"
NEUTRAL_TAG = "neutral"  # a self-reference while evaluating a binding: ignored in joins

UNKNOWN = Kind(UNKNOWN_TAG)
NEUTRAL = Kind(NEUTRAL_TAG)
K_MODULE = Kind(MODULE)
K_TENSOR = Kind(TENSOR)
K_OTHER = Kind(OTHER)


def join(kinds) -> Kind:
    kinds = [k for k in kinds if k.tag != NEUTRAL_TAG]
    if not kinds:
        return NEUTRAL
    first = kinds[0]
    if all(k == first for k in kinds):
        return first
    if all(k.is_module() for k in kinds):
        details = {k.detail for k in kinds}
        return Kind(MODULE, details.pop() if len(details) == 1 else None)
    if all(k.tag == TENSOR for k in kinds):
        return K_TENSOR
    if all(k.tag == LIST for k in kinds):  # lists whose known elements agree (NEUTRAL ones: a cycle settling)
        inner = join([k.detail for k in kinds])
        if inner.tag != UNKNOWN_TAG:
            return Kind(LIST, inner)
    return UNKNOWN


# --- vocabulary ----------------------------------------------------------------

# Attributes that, on a Module, are parameters or buffers rather than submodules.
TENSOR_ATTRS = frozenset(
    {
        "weight",
        "bias",
        "in_proj_weight",
        "in_proj_bias",
        "q_proj_weight",
        "k_proj_weight",
        "v_proj_weight",
        "running_mean",
        "running_var",
        "num_batches_tracked",
        "weight_ih_l0",
        "weight_hh_l0",
        "bias_ih_l0",
        "bias_hh_l0",
        "pos_embed",
        "cls_token",
        "dist_token",
        "mask_token",
        "position_ids",
        "logit_scale",
        "gamma",
        "beta",
        "scale",
        "data",
        "grad",
    }
)
# Attributes of a pretrained model that are, by overwhelming convention, submodules.
SUBMODULE_ATTRS = frozenset(
    {
        "backbone",
        "encoder",
        "decoder",
        "features",
        "classifier",
        "fc",
        "head",
        "heads",
        "stem",
        "neck",
        "conv1",
        "bn1",
        "embeddings",
        "embed_tokens",
        "wte",
        "wpe",
        "bert",
        "roberta",
        "distilbert",
        "deberta",
        "vit",
        "transformer",
        "base_model",
        "pooler",
        "lm_head",
        "vision_model",
        "text_model",
        "visual",
        "model",
        "module",
        "_orig_mod",
        "avgpool",
        "patch_embed",
        "norm",
        "pre_logits",
        "projector",
        "proj",
        "vision_tower",
        "language_model",
        "unet",
        "vae",
        "text_encoder",
    }
)
# Attributes that are, by convention, Sequential/ModuleList containers of submodules.
CONTAINER_ATTRS = frozenset({"layer1", "layer2", "layer3", "layer4", "layers", "blocks", "layer", "h", "stages"})

# torch.nn classes whose instances hold no parameters (the knowledge base answers for the rest).
PARAMLESS_TORCH_MODULES = frozenset(
    {
        "Identity", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
        "ReLU", "ReLU6", "GELU", "SiLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Softplus", "Hardtanh",
        "Flatten", "Unflatten", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
        "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d",
        "AvgPool3d", "LeakyReLU", "Hardswish", "Hardsigmoid", "Mish", "ELU", "CELU", "SELU", "Tanhshrink",
        "Upsample", "PixelShuffle", "PixelUnshuffle", "ZeroPad2d", "ConstantPad2d", "ReflectionPad2d",
    }
)
# Module methods that return the module itself.
SELF_RETURNING_MODULE_METHODS = frozenset(
    {
        "to", "cuda", "cpu", "train", "eval", "float", "half", "double", "bfloat16", "requires_grad_",
        "apply", "type", "to_empty", "share_memory", "xpu", "mps", "zero_grad",
    }
)
# Tensor methods that return something other than a tensor.
NON_TENSOR_TENSOR_METHODS = frozenset(
    {
        "item", "tolist", "size", "dim", "numel", "numpy", "data_ptr", "element_size", "stride", "storage",
        "untyped_storage", "backward", "register_hook", "type", "get_device", "is_contiguous",
        "is_floating_point", "nelement", "ndimension", "__len__", "keys", "items", "values",
    }
)
# torch.<lower> functions that do not return a tensor.
TORCH_NON_TENSOR_FUNCS = frozenset(
    {
        "no_grad", "enable_grad", "inference_mode", "set_grad_enabled", "is_grad_enabled", "device", "dtype",
        "load", "save", "manual_seed", "seed", "compile", "get_default_dtype", "set_default_dtype",
        "is_tensor", "numel", "typename", "use_deterministic_algorithms", "set_num_threads",
        "get_num_threads", "set_printoptions", "is_inference_mode_enabled", "autocast", "Generator", "chunk",
        "split", "unbind", "broadcast_tensors", "meshgrid", "sort", "max", "min", "topk", "svd", "qr", "eig",
        "lu", "cummax", "cummin", "mode", "median", "kthvalue", "std_mean", "var_mean", "unique", "where",
        "nonzero", "tensor_split", "hsplit", "vsplit", "dsplit", "aminmax", "frexp", "histogram", "slogdet",
        "lobpcg", "pca_lowrank", "svd_lowrank", "equal", "allclose", "is_nonzero", "is_storage",
        "is_complex", "is_floating_point", "result_type", "promote_types", "can_cast", "from_numpy",
    }
) - {"from_numpy"}
TENSOR_FACTORIES_OUTSIDE_TORCH = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter", "torch.nn.Buffer"})
MODULE_FACTORY_SUFFIXES = ("from_pretrained", "from_config")
NON_MODULE_PRETRAINED = ("Tokenizer", "Processor", "Config", "FeatureExtractor", "Scheduler", "Pipeline", "Tokeniser")
MODULE_FACTORIES = frozenset({"timm.create_model", "peft.get_peft_model", "torch.hub.load", "open_clip.create_model", "open_clip.create_model_and_transforms"})




def element_kind(k: Kind) -> Kind:
    """The kind of the items you get by iterating something of kind k."""
    if k.tag in (PARAM_ITER, PARAM_CONTAINER):
        return K_TENSOR
    if k.tag in (MODULE_ITER, CONTAINER):
        return K_MODULE
    if k.tag == LIST:
        return k.detail
    if k.tag == SD_ITEMS:
        return Kind(TUPLE, (K_OTHER, Kind(SD_VALUE)))
    if k.tag == SD_VALUES:
        return Kind(SD_VALUE)
    if k.tag == STATE_DICT:
        return K_OTHER
    if k.tag == NEUTRAL_TAG:
        return NEUTRAL
    if k.tag == TUPLE:
        return join(k.detail)
    return UNKNOWN


def module_method_kind(recv: Kind, method: str, call: ast.Call) -> Kind:
    """What calling `method` on a Module of kind `recv` gives."""
    if method in SELF_RETURNING_MODULE_METHODS:
        return recv if method != "zero_grad" else K_OTHER
    if method in ("parameters", "buffers"):
        return Kind(PARAM_ITER)
    if method in ("modules", "children"):
        return Kind(MODULE_ITER)
    if method in ("named_parameters", "named_buffers"):
        return Kind(LIST, Kind(TUPLE, (K_OTHER, K_TENSOR)))
    if method in ("named_modules", "named_children"):
        return Kind(LIST, Kind(TUPLE, (K_OTHER, K_MODULE)))
    if method == "state_dict":
        kv = keyword(call, "keep_vars")
        keep_vars = kv is not None and bool_literal(kv) is not False
        return UNKNOWN if keep_vars else Kind(STATE_DICT)
    if method == "get_submodule":
        return K_MODULE
    if method in ("get_parameter", "get_buffer"):
        return K_TENSOR
    if method == "forward":
        return K_TENSOR
    return UNKNOWN


# Optimizer classes by name, for libraries the knowledge base does not read (apex's FusedAdam,
# timm's Lookahead, a project's own Lion); for the others it decides (`evidence.is_optimizer_class`).
OPTIMIZER_CLASS_NAMES = frozenset(
    {
        "SGD", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "RMSprop", "Rprop", "ASGD", "LBFGS",
        "SparseAdam", "Adafactor", "Lion", "LAMB", "Lamb", "LARS", "AdamW8bit", "Adam8bit", "PagedAdamW", "PagedAdamW8bit",
        "FusedAdam", "FusedLAMB", "DeepSpeedCPUAdam", "Muon", "Adan", "AdaBelief", "NovoGrad", "SGDW", "Lookahead",
    }
)

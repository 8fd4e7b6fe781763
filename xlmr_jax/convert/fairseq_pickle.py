"""Reading a fairseq `model.pt` without running code it may carry (issue 13).

fairseq checkpoints are pickles. They are loaded with `torch.load(weights_only=True)`, which
builds only tensors, containers and the classes allowed here: what real checkpoints hold
besides tensors, their `args` (argparse.Namespace, fairseq <= 0.9) or `cfg` (omegaconf
DictConfig with its nodes and metadata, fairseq >= 0.10). Any other global (a function such as
`os.system`, a class of another library) is refused before anything is called.
"""

from __future__ import annotations

import argparse
import collections
import importlib
import pickle
import typing
from typing import Any

# Types omegaconf records as a value's or container's type (ref_type, object_type, key_type).
BUILTIN_TYPES = (dict, list, tuple, int, float, str, bool, bytes)
TORCH_EXTRA = 'pip install "xlmr-jax[fairseq]"'
# omegaconf classes a pickled DictConfig refers to (module, names); used when omegaconf is
# installed (without it such a checkpoint cannot be unpickled anyway).
OMEGACONF_CLASSES = {
    "omegaconf.dictconfig": ("DictConfig",),
    "omegaconf.listconfig": ("ListConfig",),
    "omegaconf.base": ("ContainerMetadata", "Metadata"),
    "omegaconf.nodes": (
        "AnyNode",
        "StringNode",
        "IntegerNode",
        "FloatNode",
        "BooleanNode",
        "EnumNode",
        "BytesNode",
        "PathNode",
    ),
}


def allowed_globals() -> list[Any]:
    """argparse.Namespace, omegaconf's config classes and what their metadata holds."""
    allowed: list[Any] = [argparse.Namespace, typing.Any, collections.defaultdict, *BUILTIN_TYPES]
    for module_name, names in OMEGACONF_CLASSES.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        allowed += [getattr(module, name) for name in names if hasattr(module, name)]
    return allowed


def load_checkpoint(local_path: str, shown: object) -> Any:
    """The unpickled checkpoint at `local_path`; `shown` names it in errors."""
    try:
        import torch
    except ModuleNotFoundError as e:
        if e.name != "torch":
            raise
        raise ValueError(
            f"{shown}: reading fairseq checkpoints needs PyTorch; {TORCH_EXTRA}"
        ) from None
    with torch.serialization.safe_globals(allowed_globals()):
        try:
            return torch.load(local_path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            if "weights only load failed" not in str(e).lower():
                raise ValueError(f"{shown}: cannot read checkpoint ({_reason(e)}).") from None
            raise ValueError(
                f"{shown}: refused: the pickle holds what a fairseq checkpoint does not "
                f"({_reason(e)}); nothing in it was run."
            ) from None
        except Exception as e:
            raise ValueError(
                f"{shown}: cannot read checkpoint ({type(e).__name__}: {_reason(e)})."
            ) from None


def _reason(error: BaseException) -> str:
    """The line of torch's message that names the refused global (else its first line)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    found = next((line for line in lines if "global" in line.lower()), lines[0] if lines else "")
    return found.removeprefix("WeightsUnpickler error: ").split(" was not an allowed global")[0]

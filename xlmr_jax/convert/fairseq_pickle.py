"""Reading a fairseq `model.pt` without running code it may carry (issue 13).

fairseq checkpoints are pickles. They are loaded with `torch.load(weights_only=True)`, which
builds only tensors, containers and the classes allowed here: what real checkpoints hold
besides tensors, their `args` (argparse.Namespace, fairseq <= 0.9) or `cfg` (omegaconf
DictConfig with its nodes and metadata, fairseq >= 0.10). Any other global (a function such as
`os.system`, a class of another library) is refused before anything is called.
"""

from __future__ import annotations

import argparse
import importlib
import typing
from typing import Any

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
    """argparse.Namespace, typing.Any (omegaconf metadata types) and omegaconf's config classes."""
    allowed: list[Any] = [argparse.Namespace, typing.Any]
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
        except Exception as e:
            reason = _first_line(e)
            if "Unsupported global" in reason or "Unsupported operand" in reason:
                raise ValueError(
                    f"{shown}: refused: the pickle refers to something a fairseq checkpoint "
                    f"does not hold ({reason}); nothing in it was run."
                ) from None
            raise ValueError(
                f"{shown}: cannot read checkpoint ({type(e).__name__}: {reason})."
            ) from None


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    found = next((line for line in lines if "Unsupported" in line), lines[0] if lines else "")
    return found.removeprefix("WeightsUnpickler error: ")

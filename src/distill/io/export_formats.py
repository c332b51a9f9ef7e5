"""Serving formats beyond `torch.export`: ONNX (checked with onnxruntime) and int8 dynamic quantisation.

- ONNX: `torch.onnx.export` (the torch.export-based exporter) with a free batch size; before anything is written
  the program runs in onnxruntime on random batches of 1 and 3 and must match the PyTorch model to `ONNX_TOL`.
- int8, ONNX: onnxruntime's dynamic quantisation (int8 weights, activations quantised per batch at run time)
  of the MatMul / Gemm / LSTM nodes, i.e. the model's Linear and LSTM layers.
- int8, torch: `torch.ao.quantization.quantize_dynamic` of the Linear and LSTM layers, saved as TorchScript
  (`torch.jit.load(path)(x)`): torch.export cannot hold the packed int8 weights.

onnx and onnxruntime are an optional extra (`pip install -e '.[serve]'`); without them the ONNX paths raise one
DistillError line that says so.
"""
from __future__ import annotations

import io
import logging
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import torch
from torch import nn

from distill.errors import DistillError

ONNX_TOL = 1e-4
QUANTIZED_LAYERS = {nn.Linear, nn.LSTM}


def require_onnx() -> None:
    """One line when the optional ONNX packages are missing."""
    missing = [name for name in ("onnx", "onnxruntime", "onnxscript") if find_spec(name) is None]
    if missing:
        raise DistillError(f"ONNX export needs {', '.join(missing)}: pip install -e '.[serve]' "
                           "(or pip install onnx onnxruntime onnxscript)")


def onnx_session(program: bytes, threads: int | None = None):
    """An onnxruntime CPU session of an ONNX program (`threads`: intra-op threads, default onnxruntime's)."""
    require_onnx()
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return onnxruntime.InferenceSession(program, options, providers=["CPUExecutionProvider"])


def run_onnx(session, x: torch.Tensor) -> np.ndarray:
    """Outputs of an onnxruntime session on a batch."""
    return session.run(None, {session.get_inputs()[0].name: x.detach().cpu().numpy()})[0]


def onnx_program(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[bytes, float]:
    """The model as ONNX bytes with a free batch size, and the largest absolute difference from the PyTorch
    model in onnxruntime on random batches of 1 and 3; more than `ONNX_TOL` is an error (nothing is written)."""
    require_onnx()
    model = model.cpu().eval()
    batch = torch.export.Dim("batch", min=1)
    try:
        with warnings.catch_warnings(), _quiet_onnx_logs():
            warnings.simplefilter("ignore")
            exported = torch.onnx.export(model, (torch.zeros(2, *input_shape),), None, dynamic_shapes=({0: batch},),
                                         dynamo=True, verbose=False)
    except Exception as error:  # the exporter raises many types; the user needs one line
        raise DistillError(f"the model cannot be exported to ONNX: {str(error).splitlines()[0]}") from None
    if exported is None:  # only an export to a file returns nothing; this one is to memory
        raise DistillError("the model cannot be exported to ONNX: the exporter returned no program")
    program = exported.model_proto.SerializeToString()
    session = onnx_session(program)
    generator = torch.Generator().manual_seed(0)
    difference = 0.0
    with torch.no_grad():
        for size in (1, 3):
            x = torch.randn(size, *input_shape, generator=generator)
            difference = max(difference, float(np.abs(run_onnx(session, x) - model(x).numpy()).max()))
    if not difference <= ONNX_TOL:
        raise DistillError(f"the ONNX program differs from the PyTorch model by {difference:.3g} (> {ONNX_TOL:g} "
                           "in onnxruntime); nothing written")
    return program, difference


def quantize_onnx(program: bytes) -> bytes:
    """int8 dynamic quantisation of an ONNX program's MatMul / Gemm / LSTM weights (onnxruntime's quantiser)."""
    require_onnx()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as folder, _quiet_onnx_logs():
        source, target = Path(folder) / "float.onnx", Path(folder) / "int8.onnx"
        source.write_bytes(program)
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm", "LSTM"])
        return target.read_bytes()


def quantize_torch(model: nn.Module) -> nn.Module:
    """int8 dynamic quantisation of the Linear and LSTM layers (a copy; the model is left as it is)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch points eager quantisation users at torchao; it still works
        return torch.ao.quantization.quantize_dynamic(model.cpu().eval(), QUANTIZED_LAYERS, dtype=torch.qint8)


def torchscript_bytes(model: nn.Module, input_shape: tuple[int, ...]) -> bytes:
    """A quantised model traced to TorchScript (free batch size: the traced graph has no fixed batch)."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, torch.zeros(2, *input_shape))
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
    return buffer.getvalue()


@contextmanager
def _quiet_onnx_logs() -> Iterator[None]:
    """Silence the exporter's and quantiser's INFO / WARNING log lines (the result is checked instead)."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)

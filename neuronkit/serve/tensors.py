"""Numpy arrays to and from the tensor forms of TensorFlow Serving and KServe v2, gRPC and REST.

Every decoder raises :class:`~neuronkit.serve.errors.InvalidArgument` naming the tensor and what was
expected. Raw bytes on the wire are little-endian (both protocols say so), whatever this machine's
byte order; decoded arrays are native and writable. String tensors decode to object arrays of
``bytes``. bfloat16 needs the ``ml_dtypes`` package, imported only when a bfloat16 tensor arrives.
Protobuf messages come from :mod:`neuronkit.serve.protos`, imported only by the functions that use them.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections.abc import Iterable

import numpy as np

from .errors import InvalidArgument, ServeError

__all__ = [
    "v2_datatype", "numpy_dtype_of_v2", "tf_datatype", "numpy_dtype_of_tf",
    "from_tensor_proto", "to_tensor_proto",
    "from_infer_input", "to_infer_output",
    "from_json_v2", "to_json_v2", "from_binary", "to_binary",
    "from_tfs_json", "to_tfs_json",
]

# ---------------------------------------------------------------- dtypes

# KServe v2 datatype -> numpy dtype name; BF16 is resolved through ml_dtypes when asked for.
_V2_TO_NUMPY = {
    "BOOL": "bool", "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64",
    "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
    "FP16": "float16", "FP32": "float32", "FP64": "float64", "BYTES": "object", "BF16": "bfloat16",
}
_NUMPY_TO_V2 = {np_name: v2 for v2, np_name in _V2_TO_NUMPY.items()}

# TensorFlow DataType name -> numpy dtype name, for the types a served model can take or give.
_TF_TO_NUMPY = {
    "DT_FLOAT": "float32", "DT_DOUBLE": "float64", "DT_HALF": "float16", "DT_BFLOAT16": "bfloat16",
    "DT_INT8": "int8", "DT_INT16": "int16", "DT_INT32": "int32", "DT_INT64": "int64",
    "DT_UINT8": "uint8", "DT_UINT16": "uint16", "DT_UINT32": "uint32", "DT_UINT64": "uint64",
    "DT_BOOL": "bool", "DT_STRING": "object", "DT_COMPLEX64": "complex64", "DT_COMPLEX128": "complex128",
}
_NUMPY_TO_TF = {np_name: tf for tf, np_name in _TF_TO_NUMPY.items()}


def _bfloat16(what: str) -> np.dtype:
    try:
        import ml_dtypes
    except ImportError:
        raise InvalidArgument(f"{what} is bfloat16, which needs the ml_dtypes package (pip install ml_dtypes); "
                              "send float32 or float16 instead") from None
    return np.dtype(ml_dtypes.bfloat16)


def _numpy_dtype(np_name: str, what: str) -> np.dtype:
    return _bfloat16(what) if np_name == "bfloat16" else np.dtype(np_name)


def _dtype_name(dtype) -> str:
    """Our key for a dtype or dtype name: its numpy name, with every string kind folded into 'object'."""
    if isinstance(dtype, str) and dtype == "bfloat16":  # a name numpy knows only through ml_dtypes
        return "bfloat16"
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise ServeError(f"{dtype!r} is not a numpy dtype") from None
    return "object" if dtype.kind in "OSU" else dtype.name


def _is_string(dtype) -> bool:
    return np.dtype(dtype).kind in "OSU"


def v2_datatype(dtype) -> str:
    """The KServe v2 datatype (``"FP32"``, ``"BYTES"``, ...) of a numpy dtype or dtype name."""
    name = _dtype_name(dtype)
    if name not in _NUMPY_TO_V2:
        raise ServeError(f"numpy dtype {name} has no KServe v2 datatype")
    return _NUMPY_TO_V2[name]


def numpy_dtype_of_v2(datatype: str, name: str = "tensor") -> np.dtype:
    """The numpy dtype of a KServe v2 datatype; object for BYTES."""
    np_name = _V2_TO_NUMPY.get(datatype) if isinstance(datatype, str) else None
    if np_name is None:
        raise InvalidArgument(f"{name!r} has datatype {datatype!r}; expected one of {', '.join(_V2_TO_NUMPY)}")
    return _numpy_dtype(np_name, f"{name!r}")


def tf_datatype(dtype) -> int:
    """The TensorFlow DataType number (``protos.tf.DT_FLOAT``, ...) of a numpy dtype or dtype name."""
    from . import protos

    name = _dtype_name(dtype)
    if name not in _NUMPY_TO_TF:
        raise ServeError(f"numpy dtype {name} has no TensorFlow DataType")
    return protos.tf.DataType.Value(_NUMPY_TO_TF[name])


def numpy_dtype_of_tf(datatype: int, name: str = "tensor") -> np.dtype:
    """The numpy dtype of a TensorFlow DataType number; object for DT_STRING."""
    from . import protos

    tf_name = protos.tf.DataType.Name(datatype) if datatype in protos.tf.DataType.values() else str(datatype)
    np_name = _TF_TO_NUMPY.get(tf_name)
    if np_name is None:
        raise InvalidArgument(f"{name!r} has dtype {tf_name}; expected one of {', '.join(_TF_TO_NUMPY)}")
    return _numpy_dtype(np_name, f"{name!r}")


def _little_endian(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))


def _from_little_endian(raw: bytes, dtype: np.dtype, shape: tuple, name: str) -> np.ndarray:
    count = math.prod(shape)
    if len(raw) != count * dtype.itemsize:
        raise InvalidArgument(f"{name!r}: shape {list(shape)} of {dtype.name} needs {count * dtype.itemsize} bytes, "
                              f"got {len(raw)}")
    # astype copies: the result is native-endian and writable, not a view on the request's bytes.
    return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)


def _as_bytes(value, name: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytearray, memoryview, np.bytes_)):
        return bytes(value)
    raise InvalidArgument(f"{name!r}: a string tensor holds {type(value).__name__}; expected bytes or str")


def _object_array(values: Iterable, shape: tuple, name: str) -> np.ndarray:
    array = np.empty(math.prod(shape), dtype=object)
    array[:] = [_as_bytes(v, name) for v in values]
    return array.reshape(shape)


def _shape(dims, name: str) -> tuple[int, ...]:
    def is_size(d) -> bool:
        return isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0

    if not isinstance(dims, (list, tuple)) or not all(is_size(d) for d in dims):
        raise InvalidArgument(f"{name!r}: shape must be a list of non-negative integers, got {dims!r}")
    return tuple(int(d) for d in dims)


# ---------------------------------------------------------------- TensorFlow TensorProto

# The typed field that carries each DataType's values when tensor_content is empty (tensor.proto).
_TF_VALUE_FIELDS = {
    "DT_FLOAT": "float_val", "DT_DOUBLE": "double_val", "DT_INT32": "int_val", "DT_INT16": "int_val",
    "DT_INT8": "int_val", "DT_UINT8": "int_val", "DT_UINT16": "int_val", "DT_INT64": "int64_val",
    "DT_UINT32": "uint32_val", "DT_UINT64": "uint64_val", "DT_BOOL": "bool_val", "DT_STRING": "string_val",
    "DT_HALF": "half_val", "DT_BFLOAT16": "half_val", "DT_COMPLEX64": "scomplex_val", "DT_COMPLEX128": "dcomplex_val",
}


def from_tensor_proto(proto, name: str = "tensor") -> np.ndarray:
    """The array a ``tensorflow.TensorProto`` holds, from ``tensor_content`` or its typed ``*_val`` field.

    As TensorFlow does, a typed field with fewer values than the shape holds is padded with its last
    value (one value fills the whole shape); no values for a non-empty shape, or too many, is refused.
    """
    from . import protos

    dtype = numpy_dtype_of_tf(proto.dtype, name)
    tf_name = protos.tf.DataType.Name(proto.dtype)
    if proto.tensor_shape.unknown_rank:
        raise InvalidArgument(f"{name!r}: a tensor's shape must be known; got unknown_rank")
    shape = tuple(dim.size for dim in proto.tensor_shape.dim)
    if any(size < 0 for size in shape):
        raise InvalidArgument(f"{name!r}: shape {list(shape)} has an unknown (-1) dimension; give every size")
    count = math.prod(shape)

    if proto.tensor_content:
        if tf_name == "DT_STRING":
            raise InvalidArgument(f"{name!r}: a DT_STRING tensor must carry its values in string_val")
        return _from_little_endian(proto.tensor_content, dtype, shape, name)

    values = getattr(proto, _TF_VALUE_FIELDS[tf_name])
    per_element = 2 if tf_name in ("DT_COMPLEX64", "DT_COMPLEX128") else 1
    given = len(values) // per_element
    if given > count or (given == 0 and count > 0) or len(values) % per_element:
        raise InvalidArgument(f"{name!r}: shape {list(shape)} holds {count} values; "
                              f"{_TF_VALUE_FIELDS[tf_name]} has {len(values)}")
    if tf_name == "DT_STRING":
        flat = _object_array(values, (given,), name)
    elif tf_name in ("DT_HALF", "DT_BFLOAT16"):
        flat = np.array(values, dtype=np.int64).astype(np.uint16).view(dtype)  # the 16 bits, zero-padded
    elif per_element == 2:
        pairs = np.array(values, dtype=np.float32 if tf_name == "DT_COMPLEX64" else np.float64)
        flat = (pairs[0::2] + 1j * pairs[1::2]).astype(dtype)
    else:
        flat = _from_repeated(values, dtype, name)
    if given < count:
        flat = np.concatenate([flat, np.repeat(flat[-1:], count - given)])
    return flat.reshape(shape)


def to_tensor_proto(array) -> object:
    """A ``tensorflow.TensorProto`` of ``array``: ``tensor_content`` for numbers, ``string_val`` for strings."""
    from . import protos

    array = np.asarray(array)
    proto = protos.tf.TensorProto(dtype=tf_datatype(array.dtype))
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    if _is_string(array.dtype):
        proto.string_val.extend(_as_bytes(v, "output") for v in array.ravel().tolist())
    else:
        proto.tensor_content = _little_endian(array).tobytes()
    return proto


# ---------------------------------------------------------------- KServe v2 gRPC

# The InferTensorContents field of each datatype (FP16 and BF16 have none: raw contents only).
_V2_CONTENT_FIELDS = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
    "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents", "UINT32": "uint_contents",
    "UINT64": "uint64_contents", "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents",
}


def _decode_bytes_elements(raw: bytes, count: int, name: str) -> list[bytes]:
    """BYTES raw content: each element is a 4-byte little-endian length, then that many bytes."""
    elements, offset = [], 0
    view = memoryview(raw)
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InvalidArgument(f"{name!r}: BYTES data ends inside an element's 4-byte length prefix")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise InvalidArgument(f"{name!r}: a BYTES element declares {length} bytes, "
                                  f"but only {len(raw) - offset} are left")
        elements.append(bytes(view[offset:offset + length]))
        offset += length
    if len(elements) != count:
        raise InvalidArgument(f"{name!r}: the shape holds {count} elements; the BYTES data has {len(elements)}")
    return elements


def _encode_bytes_elements(array: np.ndarray) -> bytes:
    parts = []
    for value in array.ravel().tolist():
        data = _as_bytes(value, "output")
        parts += [struct.pack("<I", len(data)), data]
    return b"".join(parts)


def from_binary(datatype: str, shape, chunk: bytes, name: str = "tensor") -> np.ndarray:
    """A tensor from its raw bytes: KServe v2's raw contents and Triton's binary-data extension."""
    dtype = numpy_dtype_of_v2(datatype, name)
    shape = _shape(shape, name)
    if datatype == "BYTES":
        return _object_array(_decode_bytes_elements(chunk, math.prod(shape), name), shape, name)
    return _from_little_endian(bytes(chunk), dtype, shape, name)


def to_binary(array) -> bytes:
    """The raw bytes of ``array``: little-endian values, or length-prefixed elements for strings."""
    array = np.asarray(array)
    if _is_string(array.dtype):
        return _encode_bytes_elements(array)
    return _little_endian(array).tobytes()


def _checked_cast(values: np.ndarray, dtype: np.dtype, name: str) -> np.ndarray:
    """``values`` as ``dtype``, refusing integers that do not fit instead of wrapping them."""
    cast = values.astype(dtype)
    if dtype.kind in "iu" and not np.array_equal(cast.astype(values.dtype), values):
        raise InvalidArgument(f"{name!r}: values out of range for {dtype.name}")
    return cast


def _from_repeated(values, dtype: np.dtype, name: str) -> np.ndarray:
    """A protobuf repeated number field as ``dtype``; read at full width first, so nothing wraps unseen."""
    wide = {"i": np.int64, "u": np.uint64}.get(dtype.kind)
    try:
        values = np.array(values, dtype=wide)
    except OverflowError:  # a negative value for an unsigned dtype
        raise InvalidArgument(f"{name!r}: values out of range for {dtype.name}") from None
    return _checked_cast(values, dtype, name)


def from_infer_input(tensor, raw: bytes | None = None) -> np.ndarray:
    """The array of a ``ModelInferRequest.InferInputTensor``, from its raw contents or its typed contents."""
    name = tensor.name
    shape = _shape(list(tensor.shape), name)
    if raw is not None:
        if tensor.HasField("contents") and tensor.contents.ByteSize():
            raise InvalidArgument(f"{name!r} has both raw_input_contents and contents; send one of them")
        return from_binary(tensor.datatype, shape, raw, name)

    dtype = numpy_dtype_of_v2(tensor.datatype, name)
    field = _V2_CONTENT_FIELDS.get(tensor.datatype)
    if field is None:
        raise InvalidArgument(f"{name!r}: {tensor.datatype} tensors must be sent as raw_input_contents")
    values = getattr(tensor.contents, field)
    count = math.prod(shape)
    if len(values) != count:
        raise InvalidArgument(f"{name!r}: shape {list(shape)} holds {count} values; contents.{field} has {len(values)}")
    if tensor.datatype == "BYTES":
        return _object_array(values, shape, name)
    return _from_repeated(values, dtype, name).reshape(shape)


def to_infer_output(name: str, array) -> tuple[object, bytes]:
    """An ``InferOutputTensor`` describing ``array``, and its bytes for ``raw_output_contents``."""
    from . import protos

    array = np.asarray(array)
    tensor = protos.kserve.InferOutputTensor(name=name, datatype=v2_datatype(array.dtype), shape=list(array.shape))
    return tensor, to_binary(array)


# ---------------------------------------------------------------- JSON (both REST protocols)

# The numpy kinds a JSON value may parse to for each target kind: JSON integers may feed floats,
# never the reverse, and booleans feed only booleans.
_ACCEPTED_KINDS = {"b": "b", "i": "iu", "u": "iu", "f": "iuf", "c": "iufc", "V": "iuf"}


def _exact_integers(parsed: np.ndarray, data, dtype: np.dtype, name: str) -> np.ndarray:
    """Integers past int64 (e.g. large UINT64 values) parse as float or object: read them exactly."""
    exact = np.array(data, dtype=object)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in exact.ravel()):
        return parsed
    try:
        return np.array(exact.ravel().tolist(), dtype=np.uint64 if dtype.kind == "u" else np.int64).reshape(exact.shape)
    except OverflowError:
        raise InvalidArgument(f"{name!r}: values out of range for {dtype.name}") from None


def _json_array(data, dtype: np.dtype, name: str, expected: str) -> np.ndarray:
    """A JSON value (number, bool, string or nested lists of them) as an array of ``dtype``."""
    if _is_string(dtype):
        try:
            parsed = np.array(data, dtype=object)
        except ValueError:
            raise InvalidArgument(f"{name!r}: nested lists of unequal lengths; expected {expected}") from None
        if any(isinstance(v, list) for v in parsed.ravel()):
            raise InvalidArgument(f"{name!r}: nested lists of unequal lengths; expected {expected}")
        if not all(isinstance(v, (str, bytes)) for v in parsed.ravel()):
            raise InvalidArgument(f"{name!r}: expected strings ({expected})")
        return _object_array(parsed.ravel(), parsed.shape, name)
    try:
        parsed = np.array(data)
    except (ValueError, OverflowError):
        raise InvalidArgument(f"{name!r}: nested lists of unequal lengths; expected {expected}") from None
    if parsed.size == 0:
        return np.zeros(parsed.shape, dtype=dtype)
    if dtype.kind in "iu" and parsed.dtype.kind in "fO":
        parsed = _exact_integers(parsed, data, dtype, name)
    if parsed.dtype.kind not in _ACCEPTED_KINDS.get(dtype.kind, ""):
        found = {"b": "booleans", "U": "strings", "f": "fractional numbers", "O": "mixed values"}.get(
            parsed.dtype.kind, f"{parsed.dtype.name} values")
        raise InvalidArgument(f"{name!r}: expected {expected}, got {found}")
    return _checked_cast(parsed, dtype, name)


def from_json_v2(tensor: dict) -> np.ndarray:
    """A KServe v2 JSON tensor ``{"name", "shape", "datatype", "data"}``; data may be nested or flat."""
    if not isinstance(tensor, dict):
        raise InvalidArgument(f'a tensor must be a JSON object with "name", "shape", "datatype" and "data", '
                              f"got {type(tensor).__name__}")
    name = tensor.get("name")
    if not isinstance(name, str):
        raise InvalidArgument(f'a tensor\'s "name" must be a string, got {name!r}')
    missing = [key for key in ("shape", "datatype", "data") if key not in tensor]
    if missing:
        raise InvalidArgument(f"{name!r} lacks {', '.join(repr(k) for k in missing)}")
    shape = _shape(tensor["shape"], name)
    datatype = tensor["datatype"]
    dtype = numpy_dtype_of_v2(datatype, name)
    array = _json_array(tensor["data"], dtype, name, f"{datatype} values")
    if array.size != math.prod(shape):
        raise InvalidArgument(f"{name!r}: shape {list(shape)} holds {math.prod(shape)} values; data has {array.size}")
    return array.reshape(shape)


def _json_strings(array: np.ndarray, as_b64: bool) -> list:
    """String elements for JSON: text where it is UTF-8 (unless ``as_b64``), else ``{"b64": ...}``."""

    def one(value):
        data = _as_bytes(value, "output")
        if not as_b64:
            try:
                return data.decode()
            except UnicodeDecodeError:
                pass
        return {"b64": base64.b64encode(data).decode("ascii")}

    return np.frompyfunc(one, 1, 1)(array).tolist() if array.ndim else one(array.item())


def _json_value(array: np.ndarray, b64_strings: bool = False):
    if _is_string(array.dtype):
        return _json_strings(array, b64_strings)
    if array.dtype.kind == "V" or array.dtype == np.float16:  # bfloat16, float16: Python floats
        array = array.astype(np.float32)
    if array.dtype.kind == "c":
        raise ServeError(f"complex {array.dtype.name} tensors have no JSON form")
    return array.tolist()


def to_json_v2(name: str, array) -> dict:
    """A KServe v2 JSON tensor with flat ``data``; BYTES elements as text (``{"b64"}`` if not UTF-8)."""
    array = np.asarray(array)
    return {"name": name, "datatype": v2_datatype(array.dtype), "shape": list(array.shape),
            "data": _json_value(array.reshape(-1))}


# ---------------------------------------------------------------- TensorFlow Serving REST


def _is_b64(value) -> bool:
    return isinstance(value, dict) and set(value) == {"b64"}


def _decode_b64(value, name: str):
    """``value`` with every ``{"b64": "..."}`` object replaced by its bytes."""
    if _is_b64(value):
        if not isinstance(value["b64"], str):
            raise InvalidArgument(f'{name!r}: "b64" must be a base64 string')
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidArgument(f'{name!r}: "b64" is not valid base64') from None
    if isinstance(value, list):
        return [_decode_b64(v, name) for v in value]
    if isinstance(value, dict):
        raise InvalidArgument(f'{name!r}: a value may be a number, string, list or {{"b64": ...}}; got an object')
    return value


def _describe(spec) -> str:
    dims = ", ".join("N" if d is None else str(d) for d in spec.shape)
    return f"{spec.dtype}[{dims}]"


def _tfs_array(value, spec) -> np.ndarray:
    value = _decode_b64(value, spec.name)
    dtype = np.dtype(object) if _is_string(spec.dtype) else _numpy_dtype(spec.dtype, f"{spec.name!r}")
    array = _json_array(value, dtype, spec.name, _describe(spec))
    fits = array.ndim == len(spec.shape) and all(d is None or d == s for d, s in zip(spec.shape, array.shape))
    if not fits:
        raise InvalidArgument(f"{spec.name!r} has shape {list(array.shape)}; expected {_describe(spec)}")
    return array


def from_tfs_json(body: dict, specs) -> tuple[dict[str, np.ndarray], bool]:
    """The inputs of a TF Serving REST predict body, and whether it was in row format.

    Row format, ``"instances"``: a list of values of a single input, or a list of ``{input: value}``
    objects, one per row (every input then shares dimension 0). Columnar, ``"inputs"``: a value of a
    single input, or ``{input: value}``. ``{"b64": "..."}`` stands for bytes. Values are cast to
    each :class:`neuronkit.TensorSpec`'s dtype and checked against its shape.
    """
    if not isinstance(body, dict):
        raise InvalidArgument('the request body must be a JSON object with "instances" or "inputs"')
    if ("instances" in body) == ("inputs" in body):
        given = "both" if "instances" in body else "neither"
        raise InvalidArgument(f'give exactly one of "instances" (row format) or "inputs" (columnar); got {given}')
    specs = {spec.name: spec for spec in specs}
    expected = ", ".join(f"{name}: {_describe(spec)}" for name, spec in specs.items())
    row_format = "instances" in body

    def single_input(value) -> dict:
        if len(specs) != 1:
            raise InvalidArgument(f"the model takes {len(specs)} inputs ({expected}); name each of them")
        return {next(iter(specs)): value}

    if row_format:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise InvalidArgument('"instances" must be a non-empty list, one entry per row')
        named_rows = [isinstance(row, dict) and not _is_b64(row) for row in instances]
        if all(named_rows):
            names = set(instances[0])
            if any(set(row) != names for row in instances):
                raise InvalidArgument('every object in "instances" must name the same inputs')
            values = {name: [row[name] for row in instances] for name in instances[0]}
        elif any(named_rows):
            raise InvalidArgument('"instances" mixes {input: value} objects with plain values')
        else:
            values = single_input(instances)
    else:
        inputs = body["inputs"]
        values = inputs if isinstance(inputs, dict) and not _is_b64(inputs) else single_input(inputs)

    unknown = [name for name in values if name not in specs]
    if unknown:
        raise InvalidArgument(f"unknown input {', '.join(map(repr, unknown))}; the model takes {expected}")
    missing = [name for name in specs if name not in values]
    if missing:
        raise InvalidArgument(f"missing input {', '.join(map(repr, missing))}; the model takes {expected}")
    return {name: _tfs_array(values[name], specs[name]) for name in specs}, row_format


def to_tfs_json(outputs: dict, row_format: bool) -> dict:
    """A TF Serving REST predict answer: ``{"predictions": ...}`` for rows, ``{"outputs": ...}`` for columns.

    A single output is given without its name; with several, rows are ``{output: value}`` objects.
    Outputs whose name ends in ``_bytes`` are written as ``{"b64": ...}``, as TF Serving does.
    """
    arrays = {name: np.asarray(array) for name, array in outputs.items()}
    values = {name: _json_value(array, name.endswith("_bytes")) for name, array in arrays.items()}
    if not row_format:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    batch = {name: array.shape[0] if array.ndim else None for name, array in arrays.items()}
    if None in batch.values() or len(set(batch.values())) > 1:
        raise ServeError(f"outputs {batch} do not share a batch dimension, so they cannot be written as rows; "
                         'send "inputs" (columnar) instead', "FAILED_PRECONDITION")
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    rows = next(iter(batch.values()))
    return {"predictions": [{name: value[i] for name, value in values.items()} for i in range(rows)]}

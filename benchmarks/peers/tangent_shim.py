"""Make Tangent 0.1.9 (2017) run on Python 3.9+ with gast 0.3.3.

Import this module before `tangent`. Tangent was written against gast 0.2 and Python 3.6's
AST: literals are `Num`, `Str`, `NameConstant`..., a subscript's slice is wrapped in `Index` or
`ExtSlice`, nodes may be built with only some of their fields, and the package imports
TensorFlow at import time. gast 0.3.3 instead gives every literal as `Constant`, on Python 3.9+
the slice is a bare expression, and its nodes demand every field. So this module:

- gives gast the node classes Tangent uses (`Num`, `Str`, `Bytes`, `NameConstant`,
  `Ellipsis`) and lets gast's nodes be built with some fields, the new ones defaulting;
- teaches gast's two translators the old dialect: Python's ast -> gast gives literals as
  those nodes and wraps slices in `Index` / `ExtSlice`; gast -> Python's ast turns them
  back into `Constant` and bare slices;
- registers empty stand-ins for `tangent.tf_extensions` and `tangent.tracing`, the two modules
  that import TensorFlow, so their TensorFlow gradients are simply absent.

Gradients computed through the shim are checked against hand-written ones by the benchmark
before anything is timed (tools/tangent_env.sh checks W1's when it installs Tangent).
"""

from __future__ import annotations

import ast
import copy
import sys
import types
from typing import Any

import gast
import gast.ast3 as _ast3

_LITERALS = {
    "Num": ("n",),
    "Str": ("s",),
    "Bytes": ("s",),
    "NameConstant": ("value",),
    "Ellipsis": (),
}


def _node_class(name: str, fields: tuple[str, ...]) -> type:
    """A gast expression node class `name` with `fields`, built the way gast builds its own."""

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        self._fields = fields
        self._attributes = ("lineno", "col_offset", "end_lineno", "end_col_offset")
        for key, value in zip(fields, args):
            setattr(self, key, value)
        for key, value in kwargs.items():
            setattr(self, key, value)

    return type(name, (gast.expr,), {"__init__": init, "_fields": fields})


for _name, _fields in _LITERALS.items():
    if not hasattr(gast, _name):
        setattr(gast, _name, _node_class(_name, _fields))


def _literal(value: Any) -> gast.AST:
    """A Python 3.8+ Constant's value as the gast 0.2 node Tangent expects."""
    if value is None or isinstance(value, bool):
        return gast.NameConstant(value=value)
    if isinstance(value, (int, float, complex)):
        return gast.Num(n=value)
    if isinstance(value, str):
        return gast.Str(s=value)
    if isinstance(value, bytes):
        return gast.Bytes(s=value)
    if value is Ellipsis:
        return gast.Ellipsis()
    raise TypeError(f"unexpected constant {value!r}")


# Fields gast 0.3.3 reads that Tangent's hand-made nodes (written for gast 0.2) leave unset.
_DEFAULTS = {
    "type_comment": None,
    "posonlyargs": [],
    "type_ignores": [],
    "annotation": None,
    "kind": None,
}


def _lenient(cls: type) -> None:
    """Let gast 0.3.3's node class `cls` be built with only some fields, as gast 0.2 allowed
    (`gast.Module(body=[])`); the fields gast 0.3 added get their neutral values."""
    strict = cls.__init__
    fields = cls()._fields  # gast sets _fields on each instance, not on the class

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        if args or len(kwargs) == len(fields):
            strict(self, *args, **kwargs)
            return
        strict(self)
        for key, value in kwargs.items():
            setattr(self, key, value)
        for key in fields:
            if key not in kwargs and key in _DEFAULTS:
                setattr(self, key, copy.copy(_DEFAULTS[key]))

    cls.__init__ = init


for _cls in list(vars(gast).values()):
    if (
        isinstance(_cls, type)
        and issubclass(_cls, gast.AST)
        and _cls.__module__ == gast.gast.__name__
        and _cls.__name__ not in _LITERALS
    ):
        _lenient(_cls)


# Python's ast -> gast: literals and slices as Tangent expects them (one pass, inside gast's
# own translator, so gast.parse returns Tangent's dialect).
def _from_constant(self: Any, node: ast.Constant) -> gast.AST:
    return ast.copy_location(_literal(node.value), node)


def _from_subscript(self: Any, node: ast.Subscript) -> gast.AST:
    new = self.generic_visit(node)
    s = new.slice
    if isinstance(s, gast.Tuple) and any(isinstance(e, gast.Slice) for e in s.elts):
        dims = [e if isinstance(e, gast.Slice) else gast.Index(value=e) for e in s.elts]
        new.slice = gast.ExtSlice(dims=dims)
    elif not isinstance(s, (gast.Slice, gast.Index, gast.ExtSlice)):
        new.slice = gast.Index(value=s)
    return new


_ast3.Ast3ToGAst.visit_Constant = _from_constant
_ast3.Ast3ToGAst.visit_Subscript = _from_subscript


# gast -> Python's ast: Tangent's literal and slice nodes back to what Python 3.9+ has.
def _to_constant(field: str | None) -> Any:
    def visit(self: Any, node: gast.AST) -> ast.AST:
        value = ... if field is None else getattr(node, field)
        return ast.copy_location(ast.Constant(value=value, kind=None), node)

    return visit


for _name, _fields in _LITERALS.items():
    setattr(_ast3.GAstToAst3, f"visit_{_name}", _to_constant(_fields[0] if _fields else None))


def _to_index(self: Any, node: gast.Index) -> ast.AST:
    return self._visit(node.value)


def _to_extslice(self: Any, node: gast.ExtSlice) -> ast.AST:
    return ast.Tuple(elts=self._visit(node.dims), ctx=ast.Load())


_ast3.GAstToAst3.visit_Index = _to_index
_ast3.GAstToAst3.visit_ExtSlice = _to_extslice


def _stub(name: str, **attrs: Any) -> None:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules.setdefault(name, module)


def _no_tensorflow(*_args: Any, **_kwargs: Any) -> Any:
    raise NotImplementedError("Tangent's TensorFlow tracing is not available (no TensorFlow)")


_stub("tangent.tf_extensions")
_stub(
    "tangent.tracing",
    trace=_no_tensorflow,
    trace_grad=_no_tensorflow,
    Traceable=type("Traceable", (), {}),
)

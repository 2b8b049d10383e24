"""Helpers shared by passes: finding functions, function types, symbol names, cloning ops."""

import itertools
import os

from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import (  # noqa: F401  (re-exported for passes)
    clone_remapped,
    find_function,
    func,
    functions,
    ir,
    module_body,
)

_COUNTER = itertools.count()



def module_op(module) -> ir.Operation:
    """The builtin.module operation of an ir.Module or of the operation itself."""
    return module.operation


def function_type(fn) -> ir.FunctionType:
    return ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value)


def entry_block(fn) -> ir.Block:
    return fn.regions[0].blocks[0]


def fresh_name(module, base: str) -> str:
    taken = functions(module)
    while True:
        name = f"{base}_{next(_COUNTER)}"
        if name not in taken:
            return name


def unique_name(module, name: str) -> str:
    """`name` itself when the module has no such symbol yet, else a fresh variant of it."""
    return fresh_name(module, name) if name in functions(module) else name


def new_function(module, name: str, arg_types, private: bool, loc: ir.Location):
    """Append an empty `func.func @name(arg_types)` (results set later) and its entry block."""
    with ir.InsertionPoint(module_body(module)):
        fn = func.FuncOp(name, ir.FunctionType.get(list(arg_types), []), loc=loc)
    if private:
        fn.attributes["sym_visibility"] = ir.StringAttr.get("private")
    return fn, fn.add_entry_block()


VERIFY_ENV = "AOTC_VERIFY_PASSES"  # "1": verify the IR after every pass (the test suite sets it)


def verify_after(op, pass_name: str) -> None:
    """With AOTC_VERIFY_PASSES=1, run the MLIR verifier on `op` (the function or module a pass
    just built or rewrote) and name the pass when it built invalid IR."""
    if os.environ.get(VERIFY_ENV) != "1":
        return
    op = op.operation
    with op.context:
        try:
            op.verify()
        except ir.MLIRError as exc:
            raise TracingError(f"aotc's {pass_name} pass built invalid IR (a bug in aotc; "
                               f"please report it with this message): {exc}") from None


def finish_function(fn, results) -> None:
    """Emit func.return of `results` and fix the function type to match."""
    func.ReturnOp(list(results))
    inputs = function_type(fn).inputs
    fn.attributes["function_type"] = ir.TypeAttr.get(
        ir.FunctionType.get(inputs, [v.type for v in results]))

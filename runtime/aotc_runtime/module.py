"""Loading an artifact and calling its functions: numpy arrays and pytrees in, numpy out."""

import atexit
import os
import threading
import weakref

import iree.runtime as rt
import numpy as np

from aotc_runtime import artifact, devices
from aotc_runtime import weights as weight_files
from aotc_runtime.errors import ArtifactError, ExecutionError, InputError, WeightsError
from aotc_runtime.signature import Signature

_INSTANCE = devices.INSTANCE
_LIVE: "weakref.WeakSet[Module]" = weakref.WeakSet()


def _first_line(exc: BaseException) -> str:
    return next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)


def _call_error(name: str, exc: BaseException):
    """IREE's failure of a call as InputError (an input the program rejects) or ExecutionError."""
    text = str(exc)
    if "INVALID_ARGUMENT" in text:
        detail = text.split("INVALID_ARGUMENT;", 1)[-1].split(";")[0].strip()
        return InputError(f"{name}(): the compiled program rejected the inputs: {detail}")
    return ExecutionError(f"{name}(): IREE failed while running it: {_first_line(exc)}")


class Function:
    """A compiled function with flat calling convention: numpy arrays in, a list of arrays out.

    `module[name]` of a module without aotc metadata (what `aotc.jit` compiles) gives one.
    """

    def __init__(self, module: "Module", name: str):
        self.module = module
        self.name = name

    def __call__(self, *arrays) -> list[np.ndarray]:
        return self.module._invoke(self.name, [np.require(a, requirements="C") for a in arrays])

    def __repr__(self) -> str:
        return f"<aotc_runtime.Function {self.name} of {self.module.source}>"


class ExportedFunction:
    """An exported function of an aotc artifact: pytrees of numpy arrays in and out.

    Example:
        >>> m = aotc_runtime.load("mlp.vmfb")
        >>> m.predict(params, x)          # or m.predict(params=params, x=x)
    """

    def __init__(self, module: "Module", signature: Signature):
        self.module = module
        self.signature = signature
        self.name = signature.name
        self.__doc__ = f"{signature}\n\nExported from {module.source} (target {module.target})."

    def __call__(self, *args, **kwargs):
        flat = self.signature.bind(args, kwargs)
        outs = self.module._invoke(self.name, flat)
        return self.signature.results.unflatten(iter(outs))

    def __repr__(self) -> str:
        return f"<aotc_runtime function {self.signature}>"


class ArtifactInfo:
    """What an artifact holds, read without a device: `aotc_runtime.inspect(path)` gives one.

    Attributes: source, size, name (the module), metadata (per function), functions, target,
    driver, arch (CPU architecture of its code, or None), weights (key -> ArraySpec of the
    external weights it binds) and weights_path (where load() looks for them by default).
    """

    def __init__(self, data: bytes, source: str = "<bytes>", require_aotc: bool = True):
        self.source = source
        self.size = len(data)
        if require_aotc:
            artifact.check(data, source)
        try:
            self._vm_module = rt.VmModule.copy_buffer(_INSTANCE, data)
        except (RuntimeError, ValueError) as exc:
            raise ArtifactError(f"{source}: not a loadable IREE module "
                                f"({_first_line(exc)})") from None
        self.name: str = self._vm_module.name
        self.metadata: dict[str, dict] = {}
        self._signatures: dict[str, Signature] = {}
        for fn in self._vm_module.function_names:
            if fn.startswith("__"):
                continue
            reflection = dict(self._vm_module.lookup_function(fn).reflection)
            if require_aotc or artifact.KEY_SIGNATURE in reflection:
                meta = artifact.read_metadata(reflection, fn, source)
                self.metadata[fn] = meta
                self._signatures[fn] = self._parse_signature(meta["signature"], fn)
        self.target, self.driver, self.arch = self._target()
        self.functions: list[str] = sorted(self._signatures) or [
            f for f in self._vm_module.function_names if not f.startswith("__")]
        self.weights: dict = weight_files.needed(self.metadata)
        self.weights_path: str | None = (weight_files.default_path(source)
                                         if self.weights and source != "<bytes>" else None)

    def _parse_signature(self, obj: dict, fn: str) -> Signature:
        try:
            return Signature(obj)
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{self.source}: function '{fn}' has malformed signature "
                                f"metadata ({type(exc).__name__}: {exc})") from None

    def _target(self) -> tuple[str, str, str | None]:
        found = {(m["target"], m["driver"], m["arch"]) for m in self.metadata.values()}
        if len(found) > 1:
            raise ArtifactError(f"{self.source}: functions disagree about their target {found}")
        return found.pop() if found else ("cpu", "local-task", None)

    # ---- reflection ----
    def signature(self, name: str) -> Signature:
        """The Signature of an exported function (argument names, pytrees, shapes, dtypes)."""
        if name not in self._signatures:
            raise KeyError(f"{self.source} exports no function '{name}'; it exports "
                           f"{self.functions}")
        return self._signatures[name]

    @property
    def aotc_version(self) -> str | None:
        return next((m["aotc_version"] for m in self.metadata.values()), None)

    @property
    def format_version(self) -> int | None:
        return next((m["format"] for m in self.metadata.values()), None)

    def __repr__(self) -> str:
        return (f"<aotc_runtime.ArtifactInfo '{self.name}' from {self.source}: target "
                f"{self.target}, functions {self.functions}>")


class Module(ArtifactInfo):
    """A loaded artifact. Use `aotc_runtime.load(path)` rather than the constructor.

    `m.functions` names the exported functions, `m.signature(name)` describes one, and
    `m.<name>(*args)` or `m[name](*args)` calls it. Calls are thread-safe (serialized per module).
    `m.device` is the IREE device it runs on and `m.driver` that device's name.
    """

    def __init__(self, data: bytes, device=None, source: str = "<bytes>",
                 require_aotc: bool = True, weights=None):
        super().__init__(data, source, require_aotc)
        self._lock = threading.Lock()
        self._index = None
        if device is None:
            devices.check_arch(self.arch, self.target, source)
        modules = self._weights_modules(weights)
        config = devices.config(self.driver if device is None else device,
                                self.target if device is None else None, source)
        self.device = config.device
        self.driver = self.driver if device is None else (
            device if isinstance(device, str) else repr(device))
        try:
            self._context = rt.SystemContext(vm_modules=[*modules, self._vm_module],
                                             config=config)
        except (RuntimeError, ValueError) as exc:
            raise ArtifactError(f"{source}: IREE cannot load this module on device "
                                f"'{self.driver}' (target '{self.target}'): "
                                f"{_first_line(exc)}") from None
        self._bound = self._context.modules[self._vm_module.name]
        _LIVE.add(self)

    def _weights_modules(self, path) -> list:
        """The io_parameters module for the artifact's external weights (checked), if any."""
        if not self.weights:
            return []
        if path is None and self.weights_path is None:
            raise WeightsError(f"{self.source}: the module binds external weights "
                               f"({', '.join(self.weights)}); pass weights=PATH")
        if path is not None:
            self.weights_path = os.fspath(path)
        self._index = weight_files.open_checked(self.weights_path, self.weights, self.source)
        return [weight_files.parameters_module(self._index, artifact.WEIGHTS_SCOPE, _INSTANCE)]

    # ---- calls ----
    def __getitem__(self, name: str):
        if name in self._signatures:
            return ExportedFunction(self, self._signatures[name])
        if name in self.functions:
            return Function(self, name)
        raise KeyError(f"{self.source} exports no function '{name}'; it exports {self.functions}")

    def __getattr__(self, name: str):
        if name.startswith("_") or name not in self.__dict__.get("_signatures", {}):
            raise AttributeError(f"{self.__dict__.get('source', 'module')} has no function or "
                                 f"attribute '{name}'; functions: "
                                 f"{self.__dict__.get('functions', [])}")
        return ExportedFunction(self, self._signatures[name])

    def __dir__(self):
        return [*super().__dir__(), *self._signatures]

    def _invoke(self, name: str, arrays: list) -> list[np.ndarray]:
        with self._lock:
            if self._bound is None:
                raise ArtifactError(f"{self.source}: module was closed")
            try:
                results = self._bound[name](*arrays)
            except (RuntimeError, ValueError) as exc:
                raise _call_error(name, exc) from None
            if results is None:
                return []
            if not isinstance(results, (list, tuple)):
                results = [results]
            return [devices.to_numpy(r) for r in results]

    def close(self) -> None:
        """Release the IREE context now (also done at interpreter exit)."""
        with self._lock:
            self._bound = None
            self._context = None
            self._index = None

    def __repr__(self) -> str:
        return (f"<aotc_runtime.Module '{self.name}' from {self.source}: target {self.target}, "
                f"functions {self.functions}>")


# Exported functions are module attributes (`m.predict`), so they cannot take these names.
RESERVED_NAMES = frozenset(
    {n for n in dir(Module) if not n.startswith("_")}
    | {"functions", "name", "size", "source", "target", "device", "driver", "arch", "metadata",
       "weights", "weights_path"})


def load(path, device=None, weights=None) -> Module:
    """Load an aotc artifact (.vmfb written by `aotc compile`).

    device: None picks the driver of the artifact's target ('local-task' for CPU targets,
    'vulkan', 'cuda'); or an IREE device name ('local-sync', 'cuda://0') or an
    `iree.runtime.HalDevice`. weights: the .irpa of an artifact with external weights
    (default: the file beside it with the same name, 'mlp.irpa' for 'mlp.vmfb').

    Example:
        >>> m = aotc_runtime.load("mlp.vmfb")
        >>> m.functions
        ['classify', 'predict']
        >>> logits = m.predict(params, x)
    """
    path = os.fspath(path)
    return Module(_read(path), device, source=path, weights=weights)


def inspect(path) -> ArtifactInfo:
    """Read an artifact's metadata without a device or its weights: any target, any machine.

    Example:
        >>> aotc_runtime.inspect("dist/mlp.vmfb").target
        'aarch64'
    """
    path = os.fspath(path)
    return ArtifactInfo(_read(path), source=path)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ArtifactError(f"{path}: is a directory, not an artifact") from None
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read ({exc.strerror})") from None


def load_bytes(vmfb: bytes, device=None, *, require_aotc: bool = False, weights=None) -> Module:
    """Load .vmfb bytes; with require_aotc=False also plain IREE modules (flat calls only).

    An artifact with external weights needs weights=PATH (there is no file to look beside).
    """
    return Module(bytes(vmfb), device, source="<bytes>", require_aotc=require_aotc,
                  weights=weights)


@atexit.register
def _release_all() -> None:
    """Drop contexts before devices at exit (a context outliving its device can crash)."""
    for module in list(_LIVE):
        module.close()
    devices.release()

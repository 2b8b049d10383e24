"""Loading an artifact and calling its functions: numpy arrays and pytrees in, numpy out."""

import atexit
import os
import threading
import weakref

import iree.runtime as rt
import numpy as np

from aotc_runtime import artifact
from aotc_runtime.errors import ArtifactError, ExecutionError, InputError
from aotc_runtime.signature import Signature

_INSTANCE = rt.VmInstance()  # one VM instance per process; every module and context shares it
_CONFIGS: dict[str, rt.Config] = {}  # one device and HAL module per device name
_CONFIGS_LOCK = threading.Lock()
_LIVE: "weakref.WeakSet[Module]" = weakref.WeakSet()


class _SharedConfig(rt.Config):
    """rt.Config makes a new VmInstance per device; this one uses the process's instance."""

    def __init__(self, device: rt.HalDevice):
        self.device = device
        self.vm_instance = _INSTANCE
        self.default_vm_modules = (rt.create_hal_module(_INSTANCE, device),)


def _config(device) -> rt.Config:
    """The shared Config of a device name ('local-task', 'cuda://0', ...) or a HalDevice."""
    if isinstance(device, rt.HalDevice):
        return _SharedConfig(device)
    with _CONFIGS_LOCK:
        if device not in _CONFIGS:
            driver = device.split(":")[0]
            available = rt.query_available_drivers()
            if driver not in available:
                raise ArtifactError(f"IREE driver '{driver}' is not in this aotc_runtime "
                                    f"(available: {', '.join(sorted(available))})")
            try:
                _CONFIGS[device] = _SharedConfig(rt.get_device(device))
            except (RuntimeError, ValueError) as exc:
                raise ArtifactError(f"cannot open IREE device '{device}': "
                                    f"{_first_line(exc)}") from None
        return _CONFIGS[device]


def _first_line(exc: BaseException) -> str:
    return next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)


def _call_error(name: str, exc: BaseException):
    """IREE's failure of a call as InputError (an input the program rejects) or ExecutionError."""
    text = str(exc)
    if "INVALID_ARGUMENT" in text:
        detail = text.split("INVALID_ARGUMENT;", 1)[-1].split(";")[0].strip()
        return InputError(f"{name}(): the compiled program rejected the inputs: {detail}")
    return ExecutionError(f"{name}(): IREE failed while running it: {_first_line(exc)}")


def _to_numpy(result) -> np.ndarray:
    host = result.to_host() if hasattr(result, "to_host") else result
    return np.array(host, copy=True)  # own the memory: never hand out views of device buffers


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


class Module:
    """A loaded artifact. Use `aotc_runtime.load(path)` rather than the constructor.

    `m.functions` names the exported functions, `m.signature(name)` describes one, and
    `m.<name>(*args)` or `m[name](*args)` calls it. Calls are thread-safe (serialized per module).
    """

    def __init__(self, data: bytes, device=None, source: str = "<bytes>",
                 require_aotc: bool = True):
        self.source = source
        self.size = len(data)
        if require_aotc:
            artifact.check(data, source)
        self._lock = threading.Lock()
        try:
            vm_module = rt.VmModule.copy_buffer(_INSTANCE, data)
        except (RuntimeError, ValueError) as exc:
            raise ArtifactError(f"{source}: not a loadable IREE module "
                                f"({_first_line(exc)})") from None
        self.name: str = vm_module.name
        self.metadata: dict[str, dict] = {}
        self._signatures: dict[str, Signature] = {}
        for fn in vm_module.function_names:
            if fn.startswith("__"):
                continue
            reflection = dict(vm_module.lookup_function(fn).reflection)
            if require_aotc or artifact.KEY_SIGNATURE in reflection:
                meta = artifact.read_metadata(reflection, fn, source)
                self.metadata[fn] = meta
                self._signatures[fn] = self._parse_signature(meta["signature"], fn)
        self.target, driver = self._target()
        config = _config(driver if device is None else device)
        self.device = config.device
        try:
            self._context = rt.SystemContext(vm_modules=[vm_module], config=config)
        except (RuntimeError, ValueError) as exc:
            raise ArtifactError(f"{source}: IREE cannot load this module on device "
                                f"'{device or driver}' (target '{self.target}'): "
                                f"{_first_line(exc)}") from None
        self._bound = self._context.modules[vm_module.name]
        self.functions: list[str] = sorted(self._signatures) or [
            f for f in vm_module.function_names if not f.startswith("__")]
        _LIVE.add(self)

    def _parse_signature(self, obj: dict, fn: str) -> Signature:
        try:
            return Signature(obj)
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{self.source}: function '{fn}' has malformed signature "
                                f"metadata ({type(exc).__name__}: {exc})") from None

    def _target(self) -> tuple[str, str]:
        pairs = {(m["target"], m["driver"]) for m in self.metadata.values()}
        if len(pairs) > 1:
            raise ArtifactError(f"{self.source}: functions disagree about their target {pairs}")
        return pairs.pop() if pairs else ("cpu", "local-task")

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
            return [_to_numpy(r) for r in results]

    def close(self) -> None:
        """Release the IREE context now (also done at interpreter exit)."""
        with self._lock:
            self._bound = None
            self._context = None

    def __repr__(self) -> str:
        return (f"<aotc_runtime.Module '{self.name}' from {self.source}: target {self.target}, "
                f"functions {self.functions}>")


# Exported functions are module attributes (`m.predict`), so they cannot take these names.
RESERVED_NAMES = frozenset(
    {n for n in dir(Module) if not n.startswith("_")}
    | {"functions", "name", "size", "source", "target", "device", "metadata"})


def load(path, device=None) -> Module:
    """Load an aotc artifact (.vmfb written by `aotc compile`).

    device: None picks the device the artifact was compiled for ('local-task' for CPU targets);
    or an IREE device name ('local-sync', 'cuda://0') or an `iree.runtime.HalDevice`.

    Example:
        >>> m = aotc_runtime.load("mlp.vmfb")
        >>> m.functions
        ['classify', 'predict']
        >>> logits = m.predict(params, x)
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ArtifactError(f"{path}: is a directory, not an artifact") from None
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read ({exc.strerror})") from None
    return Module(data, device, source=path)


def load_bytes(vmfb: bytes, device=None, *, require_aotc: bool = False) -> Module:
    """Load .vmfb bytes; with require_aotc=False also plain IREE modules (flat calls only)."""
    return Module(bytes(vmfb), device, source="<bytes>", require_aotc=require_aotc)


@atexit.register
def _release_all() -> None:
    """Drop contexts before devices at exit (a context outliving its device can crash)."""
    for module in list(_LIVE):
        module.close()
    _CONFIGS.clear()

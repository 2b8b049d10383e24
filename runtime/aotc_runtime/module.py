"""Loading an artifact and calling its functions: numpy arrays and pytrees in, numpy out.

Every failure of IREE or of its Python binding (RuntimeError, ValueError, TypeError, IndexError,
std::bad_cast, ...) is reported as an AotcError naming the artifact: ArtifactError at load,
WeightsError for the .irpa, InputError or ExecutionError for a call.
"""

import atexit
import os
import threading
import weakref

import iree.runtime as rt
import numpy as np

from aotc_runtime import artifact, cpu, devices, files, policy
from aotc_runtime import weights as weight_files
from aotc_runtime.errors import (
    AotcError,
    ArtifactError,
    ExecutionError,
    InputError,
    WeightsError,
)
from aotc_runtime.signature import Signature

_INSTANCE = devices.INSTANCE
_LIVE: "weakref.WeakSet[Module]" = weakref.WeakSet()


def _first_line(exc: BaseException) -> str:
    return next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)


def _call_error(name: str, exc: BaseException):
    """IREE's failure of a call as InputError (an input the program rejects) or ExecutionError."""
    text = str(exc)
    if "could not map dtype" in text:
        return InputError(f"{name}(): an input has a dtype IREE cannot take ({_first_line(exc)})")
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
        flat = []
        for i, a in enumerate(arrays):
            try:
                flat.append(a if type(a) is np.ndarray else np.asarray(a))
            except Exception as exc:  # noqa: BLE001 (any object's __array__ may raise anything)
                raise InputError(f"{self.name}(): argument {i} is not an array "
                                 f"({type(exc).__name__}: {exc})") from None
        return self.module._invoke(self.name, flat)  # any layout: copied at most once

    def __repr__(self) -> str:
        return f"<aotc_runtime.Function {self.name} of {self.module.source}>"


class ExportedFunction:
    """An exported function of an aotc artifact: pytrees of numpy arrays in and out.

    A sharded function (see `m.signature(name).mesh`) takes each sharded argument as a global
    array, which the runtime splits into per-device blocks, or as a list of those blocks, and
    returns global arrays; `m.<name>.shards(...)` returns each sharded result as its list of
    per-device blocks instead (device 0 first).

    Example:
        >>> m = aotc_runtime.load("mlp.vmfb")
        >>> m.predict(params, x)          # or m.predict(params=params, x=x)
        >>> m = aotc_runtime.load("dp.vmfb")          # a mesh of 4 CPU devices
        >>> m.step(params, x_global)                  # x split into 4 blocks
        >>> blocks = m.step.shards(params, [x0, x1, x2, x3])
    """

    def __init__(self, module: "Module", signature: Signature):
        self.module = module
        self.signature = signature
        self.name = signature.name
        described = module._described.get(self.name)  # `m.predict(...)` makes one per call
        if described is None:
            described = module._described[self.name] = (
                sum(signature.device_counts()[1]),
                f"{signature}\n\nExported from {module.source} (target {module.target}).")
        self._n_results, self.__doc__ = described

    def __call__(self, *args, **kwargs):
        return self.signature.unflatten_results(self._run(args, kwargs))

    def shards(self, *args, **kwargs):
        """Call it, returning each sharded result as its list of per-device blocks (device
        0 first) instead of the assembled global array; other results as __call__ does."""
        return self.signature.unflatten_results(self._run(args, kwargs), shards=True)

    def _run(self, args: tuple, kwargs: dict) -> list:
        flat = self.signature.bind(args, kwargs)
        outs = self.module._invoke(self.name, flat)
        if len(outs) != self._n_results:
            raise ArtifactError(f"{self.module.source}: {self.name}() returned {len(outs)} "
                                f"arrays, but its signature metadata has {self._n_results}")
        return outs

    def __repr__(self) -> str:
        return f"<aotc_runtime function {self.signature}>"


class ArtifactInfo:
    """What an artifact holds, read without a device: `aotc_runtime.inspect(path)` gives one.

    Attributes: source, size, name (the module), metadata (per function), functions, target,
    driver, arch (CPU architecture of its code, or None), weights (key -> ArraySpec of the
    external weights it binds), weights_path (where load() looks for them by default),
    weights_digest (the SHA-256 the artifact records for that file, or None) and device_count
    (how many devices its programs run on: more than 1 for a sharded artifact, whose
    signatures name their mesh).
    """

    def __init__(self, data: bytes, source: str = "<bytes>", require_aotc: bool = True,
                 unsealed_hint: str | None = None):
        self.source = source
        self.size = len(data)
        if require_aotc:
            artifact.check(data, source, *([unsealed_hint] if unsealed_hint else []))
        try:
            self._vm_module = rt.VmModule.copy_buffer(_INSTANCE, data)
            self.name: str = self._vm_module.name
            names = [f for f in self._vm_module.function_names if not f.startswith("__")]
            reflections = {f: dict(self._vm_module.lookup_function(f).reflection) for f in names}
        except Exception as exc:  # noqa: BLE001 (IREE's errors, as ArtifactError)
            raise ArtifactError(f"{source}: not a loadable IREE module "
                                f"({_first_line(exc)})") from None
        self.metadata: dict[str, dict] = {}
        self._signatures: dict[str, Signature] = {}
        for fn, reflection in reflections.items():
            if require_aotc or artifact.KEY_SIGNATURE in reflection:
                meta = artifact.read_metadata(reflection, fn, source)
                self.metadata[fn] = meta
                self._signatures[fn] = self._parse_signature(meta["signature"], fn)
        self.device_count: int = self._device_count(reflections)
        self.target, self.driver, self.arch = self._target()
        # The driver a load without device= uses: local-sync or local-task by the recorded
        # cost for one-device CPU programs (aotc_runtime.policy), else self.driver.
        self._cost = policy.recorded_cost(reflections)
        self._auto_driver: str = policy.choose_driver(self.driver, reflections,
                                                      self.device_count)
        self._input_alignment = devices.input_alignment(reflections)
        self.functions: list[str] = sorted(self._signatures) or names
        self.weights: dict = weight_files.needed(self.metadata, source)
        self.weights_path: str | None = (weight_files.default_path(source)
                                         if self.weights and source != "<bytes>" else None)
        digests = {m["weights_digest"] for m in self.metadata.values()} - {None}
        if len(digests) > 1:
            raise ArtifactError(f"{source}: functions disagree about their weights digest")
        self.weights_digest: str | None = digests.pop() if digests else None

    def _parse_signature(self, obj: dict, fn: str) -> Signature:
        try:
            return Signature(obj)
        except (AttributeError, KeyError, TypeError, ValueError, RecursionError) as exc:
            raise ArtifactError(f"{self.source}: function '{fn}' has malformed signature "
                                f"metadata ({type(exc).__name__}: {exc})") from None

    def _device_count(self, reflections: dict) -> int:
        """The devices the functions need (the compiler's count, the meshes of the
        signatures, the devices of arguments and results), after checking that each sharded
        signature places its blocks where the compiled function takes them."""
        count = 1
        for fn, reflection in reflections.items():
            args_on, results_on = devices.declared_devices(reflection)
            count = max(count, artifact.device_count(reflection, fn, self.source),
                        1 + max([*args_on, *results_on], default=0))
            signature = self._signatures.get(fn)
            if signature is None or signature.mesh is None:
                continue
            count = max(count, signature.mesh.size)
            expected = signature.placement()
            if expected != (args_on, results_on):
                raise ArtifactError(
                    f"{self.source}: function '{fn}' is sharded over the {signature.mesh}, but "
                    f"its compiled arguments/results live on devices {args_on}/{results_on}, "
                    f"not {expected[0]}/{expected[1]} as its signature says; recompile it")
        return count

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
    `m.device` is the IREE device it runs on and `m.driver` that device's name; `m.devices`
    lists the devices of a sharded artifact (device p runs mesh position p; `[m.device]`
    otherwise). A module loaded before `os.fork()` also works in the child: its first call
    there opens a fresh device.
    """

    def __init__(self, data: bytes, device=None, source: str = "<bytes>",
                 require_aotc: bool = True, weights=None, weights_digest: str | None = None,
                 unsealed_hint: str | None = None, mesh=None):
        super().__init__(data, source, require_aotc, unsealed_hint)
        device = self._choose_devices(device, mesh)
        self._lock = threading.Lock()
        self._index = None
        self._context = self._bound = self._transfer = None
        self._vm_functions: dict = {}
        self._described: dict = {}  # function name -> (result count, docstring)
        self._generation = devices.fork_generation()
        if device is None:
            devices.check_arch(self.arch, self.target, source)
        cpu.check(data, devices.host_arch(), source)
        self._modules = self._weights_modules(weights, weights_digest)
        self._device_request = self._auto_driver if device is None else device
        self._target_for_errors = self.target if device is None else None
        self.driver = self._auto_driver if device is None else (
            device if isinstance(device, str) else repr(device))
        self._attach()
        _LIVE.add(self)

    def _choose_devices(self, device, mesh):
        """The device request of a load with device= and devices=: for an artifact on N > 1
        devices, a driver name or a list of N devices (ArtifactError when fewer are given);
        otherwise the one device."""
        n = self.device_count
        if mesh is None:
            if n > 1 and device is not None and not isinstance(device, str):
                raise ArtifactError(f"{self.source}: this artifact runs on a mesh of {n} "
                                    f"devices; pass devices=[...] ({n} iree.runtime.HalDevices "
                                    "or device names) or a driver name as device=, not one "
                                    f"{type(device).__name__}")
            return device
        if device is not None:
            raise ArtifactError(f"{self.source}: pass device= (one device, or a driver name) or "
                                "devices= (a count or a list), not both")
        if type(mesh) is int:
            given = mesh
        elif isinstance(mesh, (list, tuple)):
            given = len(mesh)
        else:
            raise ArtifactError(f"{self.source}: devices= takes a device count or a list of "
                                f"devices, not {type(mesh).__name__}")
        if given < n:
            raise ArtifactError(
                f"{self.source}: this artifact runs on a mesh of {n} devices but only {given} "
                f"{'was' if given == 1 else 'were'} given; pass devices={n} (or leave devices= "
                f"out) to create {n} '{self.driver}' devices, or recompile it for a mesh of "
                f"at most {given} devices")
        if isinstance(mesh, int):
            return None
        return list(mesh[:n]) if n > 1 else mesh[0]

    def _attach(self) -> None:
        """Make the IREE context on the (shared) device: at load, and in a forked child."""
        if self.device_count > 1:
            config = devices.mesh_config(self._device_request, self.device_count,
                                         self._target_for_errors, self.source)
        else:
            config = devices.config(self._device_request, self._target_for_errors, self.source)
        try:
            context = rt.SystemContext(vm_modules=[*self._modules, self._vm_module],
                                       config=config)
            bound = context.modules[self._vm_module.name]
        except Exception as exc:  # noqa: BLE001 (IREE's errors, as ArtifactError)
            raise ArtifactError(f"{self.source}: IREE cannot load this module on device "
                                f"'{self.driver}' (target '{self.target}'): "
                                f"{_first_line(exc)}") from None
        self.device = config.device
        self.devices = getattr(config, "devices", [config.device])
        self._context, self._bound = context, bound
        self._transfer = (devices.MeshTransfer(self.devices) if self.device_count > 1
                          else devices.Transfer(config.device, self._input_alignment))
        self._generation = devices.fork_generation()

    def _reattach_after_fork(self) -> None:
        """In a forked child: leave the inherited context alone (destroying it would hang) and
        make a new one on a fresh device."""
        devices.keep_forever(self._context, self._bound)
        self._context = self._bound = None
        request = self._device_request
        if isinstance(request, rt.HalDevice) or (
                isinstance(request, list) and any(isinstance(d, rt.HalDevice) for d in request)):
            raise ArtifactError(
                f"{self.source}: loaded on an iree.runtime.HalDevice before os.fork(), and IREE "
                "devices do not survive fork; load it again in this process, or load it with a "
                "device name (device='local-task') so that it can reopen the device itself")
        self._attach()

    def _weights_modules(self, path, digest: str | None) -> list:
        """The io_parameters module for the artifact's external weights (checked), if any."""
        if not self.weights:
            return []
        if path is None and self.weights_path is None:
            raise WeightsError(f"{self.source}: the module binds external weights "
                               f"({', '.join(self.weights)}); pass weights=PATH")
        if path is not None:
            try:
                self.weights_path = os.fspath(path)
            except TypeError:
                raise WeightsError(f"{self.source}: weights= must be a path, got "
                                   f"{type(path).__name__}") from None
        elif digest is None:
            digest = self.weights_digest  # weights=PATH chooses other weights on purpose
        self._index = weight_files.open_checked(self.weights_path, self.weights, self.source,
                                                digest)
        return [weight_files.parameters_module(self._index, artifact.WEIGHTS_SCOPE, _INSTANCE,
                                               self.weights_path)]

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
            if self._generation != devices.fork_generation():
                self._reattach_after_fork()
            function = self._vm_functions.get(name)
            if function is None:
                function = self._vm_functions[name] = self._vm_module.lookup_function(name)
            try:
                return self._transfer.call(self._context.vm_context, function, arrays, name)
            except AotcError:
                raise
            except Exception as exc:  # noqa: BLE001 (IREE's errors, as InputError/ExecutionError)
                raise _call_error(name, exc) from None

    def close(self) -> None:
        """Release the IREE context now (also done at interpreter exit)."""
        with self._lock:
            if self._generation != devices.fork_generation():
                devices.keep_forever(self._context, self._bound)  # made before fork()
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
       "weights", "weights_path", "weights_digest", "device_count", "devices"})


def load(path, device=None, weights=None, *, weights_digest: str | None = None,
         devices=None) -> Module:
    """Load an aotc artifact (.vmfb written by `aotc compile`), after checking its seal, its
    target against this machine (driver, architecture, CPU features) and its weights.

    device: None picks the driver of the artifact's target ('vulkan', 'cuda'; for CPU targets
    'local-sync' or 'local-task' by the cost the compiler recorded, see aotc_runtime.policy;
    sharded artifacts: 'local-task'); or an IREE device name ('local-sync', 'cuda://0') or an
    `iree.runtime.HalDevice`. A sharded artifact runs on a mesh of N devices
    (`inspect(path).device_count`): devices=None creates N devices of its driver (or of the
    driver named by device=), shared with other modules on N such devices; devices=K checks
    that K >= N devices may be used; devices=[...] gives them (N or more device names or
    HalDevices; device p runs mesh position p). Fewer than N raises ArtifactError.
    weights: the .irpa of an artifact with external weights
    (default: the file beside it with the same name, 'mlp.irpa' for 'mlp.vmfb', checked
    against the SHA-256 the artifact records, if any). weights_digest: the SHA-256 the weights
    file must have (see `save_weights(..., digest=True)`), also for weights=PATH.

    Example:
        >>> m = aotc_runtime.load("mlp.vmfb")
        >>> m.functions
        ['classify', 'predict']
        >>> logits = m.predict(params, x)
    """
    try:
        path = os.fspath(path)
    except TypeError:
        raise ArtifactError(f"load() needs a path, got {type(path).__name__}") from None
    return Module(_read(path), device, source=path, weights=weights,
                  weights_digest=weights_digest, mesh=devices)


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
        return files.read_regular(path)
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such file") from None
    except files.NotARegularFile as exc:
        raise ArtifactError(f"{path}: is {exc.kind}, not an artifact") from None
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read ({exc.strerror or exc})") from None


def load_bytes(vmfb: bytes, device=None, *, require_aotc: bool = True, weights=None,
               weights_digest: str | None = None, devices=None) -> Module:
    """Load the bytes of an aotc artifact, checked like `load` checks a file (device= and
    devices= as for `load`).

    require_aotc=False also loads plain IREE modules without aotc's seal and metadata (what
    `aotc.jit` compiles; flat calls only). Only pass it for bytes you just compiled or trust:
    IREE does not validate a module, and corrupt bytes can crash the process. An artifact with
    external weights needs weights=PATH (there is no file to look beside).

    Example:
        >>> m = aotc_runtime.load_bytes(open("mlp.vmfb", "rb").read(), weights="mlp.irpa")
        >>> m = aotc_runtime.load_bytes(compile_stablehlo(text), require_aotc=False)
    """
    try:
        data = bytes(vmfb)
    except TypeError:
        raise ArtifactError(f"load_bytes() needs bytes, got {type(vmfb).__name__}") from None
    hint = ("to load a plain IREE module that you compiled yourself and trust, pass "
            "require_aotc=False")
    return Module(data, device, source="<bytes>", require_aotc=require_aotc, weights=weights,
                  weights_digest=weights_digest, unsealed_hint=hint, mesh=devices)


def _after_fork_in_child() -> None:
    """A thread of the parent may have held a module's lock during the fork: new locks."""
    for module in list(_LIVE):
        module._lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _release_all() -> None:
    """Drop contexts before devices at exit (a context outliving its device can crash)."""
    for module in list(_LIVE):
        module.close()
    devices.release()

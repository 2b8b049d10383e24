"""Loading a compiled module and calling its functions with numpy arrays."""

import threading

import numpy as np
import iree.runtime as rt

from aotc_runtime.errors import ArtifactError

_DEVICES: dict[str, rt.HalDevice] = {}
_DEVICES_LOCK = threading.Lock()


def device(driver: str = "local-task") -> rt.HalDevice:
    """One shared device per driver for the process."""
    with _DEVICES_LOCK:
        if driver not in _DEVICES:
            _DEVICES[driver] = rt.get_driver(driver).create_default_device()
        return _DEVICES[driver]


class Function:
    """One exported function: call it with numpy arrays, get numpy arrays back (a list)."""

    def __init__(self, module: "Module", name: str, vm_function):
        self.module = module
        self.name = name
        self._vm_function = vm_function

    @property
    def reflection(self) -> dict:
        return dict(self._vm_function.reflection)

    def __call__(self, *args) -> list[np.ndarray]:
        with self.module._lock:
            results = self.module._invoke(self.name, [np.require(a, requirements="C") for a in args])
        if not isinstance(results, (list, tuple)):
            results = [results]
        return [np.asarray(r.to_host()).copy() if hasattr(r, "to_host") else np.asarray(r)
                for r in results]


class Module:
    """A loaded .vmfb. `module.functions` names its exports; `module[name](*arrays)` calls one."""

    def __init__(self, vmfb: bytes, driver: str = "local-task", source: str = "<bytes>"):
        self.source = source
        self._lock = threading.Lock()
        config = rt.Config(device=device(driver))
        try:
            vm_module = rt.VmModule.copy_buffer(config.vm_instance, vmfb)
        except Exception as exc:
            raise ArtifactError(f"{source}: not a loadable IREE module ({exc})") from None
        self._context = rt.SystemContext(vm_modules=[vm_module], config=config)
        self._vm_module = vm_module
        self._bound = self._context.modules[vm_module.name]
        self.functions = [f.split("(")[0] for f in self._export_names()]

    def _export_names(self) -> list[str]:
        names = []
        for i in range(self._vm_module.function_count if hasattr(self._vm_module,
                                                                 "function_count") else 0):
            names.append(self._vm_module.lookup_function(i).name)
        return names or [n for n in dir(self._bound) if not n.startswith("_")]

    def _invoke(self, name: str, args):
        return self._bound[name](*args)

    def __getitem__(self, name: str) -> Function:
        vm_function = self._vm_module.lookup_function(name)
        if vm_function is None:
            raise ArtifactError(f"{self.source}: no function '{name}'")
        return Function(self, name, vm_function)


def load_bytes(vmfb: bytes, driver: str = "local-task") -> Module:
    return Module(vmfb, driver)

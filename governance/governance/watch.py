"""What a location really imports and reads while it loads.

Three views, because no single one sees everything:
- the modules that appear in `sys.modules` during the load (an `importlib.import_module`, an
  `__import__`, a module loaded from a file path: whatever ran);
- a finder at the front of `sys.meta_path`, which sees each import of another domain's package
  while the importing frame is still on the stack (so the report gives file:line);
- an audit hook on `open`, for the files the location reads (defs.yaml declarations, a dbt
  manifest): with the imported modules' files, these key the incremental cache.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from pathlib import Path
from types import ModuleType

_ACTIVE: list[LoadWatch] = []  # the watch of the load in progress (audit hooks are forever)
_HOOKED = False


def _on_event(event: str, args: tuple) -> None:
    if event == "open" and _ACTIVE:
        path, mode = args[0], args[1]
        if isinstance(path, str) and (mode is None or not set(str(mode)) & set("wax+")):
            _ACTIVE[-1].opened.add(path)


class _CrossImportFinder(MetaPathFinder):
    """Finds nothing; notes who imports another domain's package (the first frame in the
    loading location's folder, else the innermost frame outside the import machinery)."""

    def __init__(self, watch: LoadWatch) -> None:
        self.watch = watch

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ):
        domain = self.watch.other_packages.get(fullname.split(".")[0])
        if domain is not None and fullname not in self.watch.seen:
            self.watch.seen[fullname] = (domain, *self.watch.importer())
        return None


class LoadWatch:
    def __init__(
        self,
        root: Path,
        own_folder: str,
        other_packages: dict[str, str],  # top-level package -> its location
        other_folders: dict[str, str],  # absolute folder -> its location
    ) -> None:
        self.root = str(root.resolve())
        self.own_folder = own_folder
        self.other_packages = other_packages
        self.other_folders = other_folders
        self.opened: set[str] = set()
        self.seen: dict[str, tuple[str, str, int]] = {}  # module -> (domain, file, line)
        self.new_modules: dict[str, str] = {}  # module -> file
        self._before: set[str] = set()
        self._finder = _CrossImportFinder(self)

    def __enter__(self) -> LoadWatch:
        global _HOOKED
        if not _HOOKED:
            sys.addaudithook(_on_event)
            _HOOKED = True
        self._before = set(sys.modules)
        sys.meta_path.insert(0, self._finder)
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.remove(self)
        sys.meta_path.remove(self._finder)
        for name in set(sys.modules) - self._before:
            file = getattr(sys.modules.get(name), "__file__", None)
            if isinstance(file, str):
                self.new_modules[name] = file

    def importer(self) -> tuple[str, int]:
        frame = sys._getframe(2)
        fallback: tuple[str, int] = ("", 0)
        while frame is not None:
            file = frame.f_code.co_filename
            if self.own_folder and file.startswith(self.own_folder + "/"):
                return file, frame.f_lineno
            if not fallback[0] and not file.startswith("<") and "importlib" not in file:
                fallback = (file, frame.f_lineno)
            frame = frame.f_back
        return fallback

    def cross_imports(self) -> list[tuple[str, str, str, int]]:
        """(module, its domain, importing file, line) for each other domain's module loaded."""
        found = {}
        for module, (domain, where, line) in self.seen.items():  # attempts count, failed too
            found.setdefault(module.split(".")[0], (module, domain, where, line))
        for module, file in self.new_modules.items():
            domain = self.other_packages.get(module.split(".")[0]) or self._folder_domain(file)
            if domain is None:
                continue
            top = module.split(".")[0]
            if top in found:
                continue
            _, where, line = self.seen.get(module, (domain, "", 0))
            found[top] = (module, domain, where, line)
        return sorted(found.values())

    def _folder_domain(self, file: str) -> str | None:
        for folder, domain in self.other_folders.items():
            if file.startswith(folder + "/"):
                return domain
        return None

    def files(self) -> tuple[set[str], set[str]]:
        """(modules, other files) of the repo this load imported or read (third-party code is
        pinned by uv.lock)."""
        venv = self.root + "/.venv/"

        def in_repo(files) -> set[str]:
            resolved = {str(Path(f).resolve()) for f in files}
            return {
                f for f in resolved
                if f.startswith(self.root + "/") and not f.startswith(venv)
                and "__pycache__" not in f
            }  # fmt: skip

        modules = in_repo(self.new_modules.values())
        read = in_repo(f for f in self.opened if not f.endswith((".py", ".pyc")))
        return modules, read - modules

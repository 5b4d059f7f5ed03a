"""The library's cache folder: datasets, landmark networks, decoded inputs and runs made once."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
from functools import lru_cache
from pathlib import Path

from filelock import FileLock


def cache_dir() -> Path:
    """The library's cache folder: ``$AUHEAT_CACHE``, else ``~/.cache/auheat``."""
    return Path(os.environ.get("AUHEAT_CACHE") or Path.home() / ".cache" / "auheat")


def made_once(path: str | Path) -> FileLock:
    """A lock for making ``path`` (a dataset, a run folder) if it is missing.

    Two processes sharing the cache, such as two notebooks or two chapters of a parallel book
    build, would otherwise make the same entry at once and collide when renaming it into place.
    Inside ``with made_once(path):`` check for the entry and make it: the second process waits,
    then finds it made. The lock file ``<path>.lock`` sits beside the entry.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(f"{path}.lock")


def content_digest(path: str | Path) -> str:
    """16 hex digits of a file's SHA-1: names what a file holds, whatever it is called.

    A file is read once per process for each (size, modification time) it has: a run's digest asks
    for its landmark network's every time it is named, and 2DFAN4's weights are 95 MB.
    """
    path = Path(path).resolve()
    stat = path.stat()
    return _digest(path, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _digest(path: Path, size: int, mtime_ns: int) -> str:
    sha = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()[:16]


@lru_cache(maxsize=8)
def source_digest(module: str) -> str:
    """16 hex digits naming the code of ``module`` and of every module of its package it imports,
    in turn (imports inside functions too): what a cached thing made by that code depends on.

    Each module counts by its syntax tree less its docstrings, so comments, formatting and
    docstrings leave the digest as it is; any other edit changes it, whether it changes what the
    code makes or not. Written here because :mod:`modulefinder` would also scan every library the
    code imports (numpy, torch, OpenCV and theirs), where only the package's own modules count.
    """
    package = module.partition(".")[0]
    dumps: dict[str, str] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in dumps:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(f"no source for module {name!r}")
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"), spec.origin)
        dumps[name] = ast.dump(_without_docstrings(tree))
        parents = [name.rsplit(".", k)[0] for k in range(1, name.count(".") + 1)]
        todo += parents + _imported(tree, package)
    sha = hashlib.sha1(repr(sorted(dumps.items())).encode())
    return sha.hexdigest()[:16]


def _imported(tree: ast.Module, package: str) -> list[str]:
    """The modules of ``package`` an import statement anywhere in ``tree`` names (``from a import
    b`` names a, and a.b where b is a submodule of the package a)."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            if node.module.partition(".")[0] == package:
                spec = importlib.util.find_spec(node.module)
                if spec is not None and spec.submodule_search_locations is not None:
                    subs = (f"{node.module}.{alias.name}" for alias in node.names)
                    names += [s for s in subs if importlib.util.find_spec(s) is not None]
    return [name for name in names if name.partition(".")[0] == package]


def _without_docstrings(tree: ast.Module) -> ast.Module:
    """``tree`` with the docstring of the module and of every class and function taken out."""
    for node in ast.walk(tree):
        documented = isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        if documented and ast.get_docstring(node, clean=False) is not None:
            node.body = node.body[1:] or [ast.Pass()]
    return tree

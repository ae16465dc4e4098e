"""The README's Python example runs as written, and its command lines and those of the documentation pages parse
(so the README and the docs stay true)."""

import re
import warnings
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
DOCS = README.parent / "docs"


def test_readme_python_examples_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "README.md has no ```python example"
    for block in blocks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(block, str(README), "exec"), {"__name__": "readme"})  # noqa: S102
    printed = capsys.readouterr().out.split()
    assert printed and all(0.0 < float(value) <= 1.0 for value in printed[-2:])


def _command_lines(path: Path) -> list[str]:
    return [line for block in re.findall(r"```sh\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)
            for line in block.splitlines() if line.startswith("mlml ")]


@pytest.mark.parametrize("page", ["README.md", *sorted(p.name for p in DOCS.glob("*.md"))])
def test_readme_command_lines_parse(page):
    """Every ``mlml ...`` line of the shell blocks of the README and of the documentation's pages names real
    commands and flags (parsed, not run)."""
    import shlex

    from mlml.cli.parser import build_parser

    parser = build_parser()
    lines = _command_lines(README if page == "README.md" else DOCS / page)
    if page == "README.md":
        assert len(lines) > 10
    for line in lines:
        argv = shlex.split(line.split(" #")[0].replace("$S", "scene"))
        try:
            parser.parse_args(argv[1:])  # SystemExit on an unknown command or flag
        except SystemExit as exc:
            if exc.code != 0:  # 0: --help
                pytest.fail(f"{page}: {line!r} does not parse")

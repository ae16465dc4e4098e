"""The README's Python example runs as written (so the README stays true)."""

import re
import warnings
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "README.md has no ```python example"
    for block in blocks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(block, str(README), "exec"), {"__name__": "readme"})  # noqa: S102
    printed = capsys.readouterr().out.split()
    assert printed and all(0.0 < float(value) <= 1.0 for value in printed[-2:])


def test_readme_command_lines_parse():
    """Every ``mlml ...`` line of the README's shell blocks names real commands and flags (parsed, not run)."""
    import shlex

    from mlml.cli.parser import build_parser

    parser = build_parser()
    lines = [line for block in re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
             for line in block.splitlines() if line.startswith("mlml ")]
    assert len(lines) > 10
    for line in lines:
        argv = shlex.split(line.split(" #")[0].replace("$S", "scene"))
        parser.parse_args(argv[1:])  # SystemExit on an unknown command or flag

"""The README's step-by-step commands run, in order, as written."""

from __future__ import annotations

import shlex
from pathlib import Path

from tests.cli.test_cli import confiance

README = Path(__file__).parent.parent / "README.md"


def test_readme_step_by_step_runs(tmp_path: Path) -> None:
    block = README.read_text().split("```console", 1)[1].split("```", 1)[0]
    commands = [shlex.split(line[2:]) for line in block.splitlines() if line.startswith("$ ")]
    assert len(commands) >= 10
    for argv in commands:
        assert argv[:3] == ["confiance", "--home", "/tmp/c"]
        result = confiance(*argv[3:], home=tmp_path / "c")
        assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stdout}{result.stderr}"

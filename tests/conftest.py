"""Shared fixtures: one small consortium built once, copied for tests that mutate it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from confiance.consortium import Home, operations
from confiance.consortium.home import TENANTS
from confiance.detect import generate

VECTORS = Path(__file__).parent / "vectors"
PIN = "123456"
SMALL_EVENTS = 12_000


def build_home(root: Path, *, sign: tuple[str, ...] = TENANTS, run: bool = True) -> Home:
    """init → generate → ingest → contract → sign → run, as the demo does."""
    home = operations.init_consortium(root)
    generate(home.inputs_dir(), events=SMALL_EVENTS, seed=7)
    for tenant in TENANTS:
        operations.ingest_tenant(home, tenant)
    operations.new_contract(home, "soc-commun")
    for tenant in sign:
        operations.sign_contract(home, "soc-commun", tenant)
    if run:
        operations.run_contract(home, "soc-commun")
    return home


@pytest.fixture(scope="session")
def built_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("consortium") / "home"
    home = build_home(root)
    home.close()
    yield root


@pytest.fixture
def home(built_home: Path, tmp_path: Path) -> Iterator[Home]:
    """A private copy of the built consortium, free to damage."""
    root = tmp_path / "home"
    shutil.copytree(built_home, root)
    opened = Home(root)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SoftHSM2 token for the session: the library reads its configuration once."""
    if shutil.which("softhsm2-util") is None:
        pytest.fail("SoftHSM2 is missing: run scripts/system-deps.sh (make test does)")
    directory = tmp_path_factory.mktemp("softhsm")
    (directory / "tokens").mkdir()
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {directory / 'tokens'}\n"
        "objectstore.backend = file\nlog.level = ERROR\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    label = "confiance-tests"
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            "87654321",
            "--pin",
            PIN,
        ],
        check=True,
        capture_output=True,
    )
    return label

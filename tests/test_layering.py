"""The architecture as a test: the import contracts in pyproject.toml ([tool.importlinter])."""
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT


def test_every_import_contract_holds():
    result = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_broken_contract_is_reported(tmp_path):
    """The check can fail: a config forbidding what the code really does is reported broken."""
    config = tmp_path / "contracts.toml"
    config.write_text('[tool.importlinter]\nroot_packages = ["plugin"]\n\n[[tool.importlinter.contracts]]\n'
                      'name = "the processor may not reach the service"\ntype = "forbidden"\n'
                      'source_modules = ["plugin.processor"]\nforbidden_modules = ["plugin.service"]\n')
    result = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache", "--config",
                             str(config)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "BROKEN" in result.stdout

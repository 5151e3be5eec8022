"""The README's two commands are the ones CI runs and the ones a new machine needs."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = text.split("```bash", 1)[1].split("```", 1)[0]
    return [line for line in block.strip().splitlines() if line.strip()]


def test_readme_starts_with_two_commands():
    text = (REPO / "README.md").read_text()
    assert text.index("```bash") < text.index("\n## ")
    install_and_run, install_and_test = _readme_commands()
    assert install_and_run.endswith("albert-lens")
    assert "pytest" in install_and_test and "[dev]" in install_and_test


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert _readme_commands()[1] in ci

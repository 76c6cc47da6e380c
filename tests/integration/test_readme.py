"""README's variable table is the binary's own table (`wsginit --help`), and what README's
"From gunicorn" table says of gunicorn's hooks holds."""
import os
import re

import pytest

from conftest import ROOT, run_binary
from test_config import VARIABLES
from wire import get


def table(text):
    lines = text.splitlines()
    start = lines.index("| variable | default | meaning |")
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_readme_table_matches_help():
    help_rows = table(run_binary({}, ["--help"]).stdout)
    with open(os.path.join(ROOT, "README.md")) as f:
        readme_rows = table(f.read())
    assert readme_rows == help_rows


def test_help_table_names_every_variable_of_the_design():
    names = [re.match(r"\| (\w+) \|", r).group(1) for r in table(run_binary({}, ["--help"]).stdout)[2:]]
    assert not set(VARIABLES) - set(names), set(VARIABLES) - set(names)


@pytest.mark.parametrize("preload", ["true", "false"])
def test_gunicorn_hooks_line(live, preload):
    """From gunicorn: the app's module code runs in each worker, or once in the master with
    PRELOAD, where os.register_at_fork(after_in_child=...) runs in each worker (post_fork)."""
    s = live(APP="atfork:application", PRELOAD=preload, WORKERS="2")
    imported, after_fork, worker = get(s.port, "/").body.decode().split()
    assert int(worker) != s.proc.pid
    if preload == "true":
        assert (int(imported), after_fork) == (s.proc.pid, worker)
    else:
        assert (int(imported), after_fork) == (int(worker), "None")

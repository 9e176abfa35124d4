"""The ``plasticore`` command assembles each package's commands and imports their work
only when a command runs."""

import subprocess
import sys

#: Modules a command imports when it runs, never to build the parser.
HEAVY = ("plasticore.compiler.network", "plasticore.compiler.lower", "plasticore.driver.chip",
         "plasticore.driver.runtime", "plasticore.sim.board", "plasticore.hdl",
         "plasticore.demos.digits", "plasticore.boards.top", "nir", "sklearn", "matplotlib",
         "numba")


def test_building_the_parser_imports_no_work():
    code = ("import sys; from plasticore import cli; cli.build_parser(); "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_every_command_is_registered():
    from plasticore import cli

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert list(sub.choices) == ["info", "demo", "sim", "compile", "export", "run",
                                 "selftest", "build", "program"]


def test_a_reader_that_leaves_early_gets_no_traceback():
    """``plasticore info | head -1``: the pipe closes after a few bytes."""
    p = subprocess.Popen([sys.executable, "-m", "plasticore.cli", "info"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.read(10)
    p.stdout.close()
    err = p.stderr.read().decode()
    p.stderr.close()
    assert p.wait() in (0, 1) and "Traceback" not in err and "BrokenPipe" not in err

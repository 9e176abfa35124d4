"""Board platforms and bitstream builds for the plasticore gateware.

:mod:`.top` wraps the link top for each board (clock, reset, UART pins, LEDs);
:mod:`.build` runs the open toolchain (YoWASP from PyPI) and reports resources and fmax;
:mod:`.cli` holds the ``plasticore build`` and ``program`` commands.  Importing this package
is cheap: the gateware is imported on first use of a name below.
"""

__all__ = ["BOARDS", "Board", "BoardTop", "get_board"]


def __getattr__(name):
    if name in __all__:
        from . import top
        return getattr(top, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

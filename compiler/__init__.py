"""Compiler: lowers network descriptions to :class:`plasticore.core.CoreConfig` images."""

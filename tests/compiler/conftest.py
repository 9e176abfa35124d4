"""Fixtures of the compiler tests."""

import pytest
from compiler_nets import feedforward


@pytest.fixture
def ff():
    return feedforward()


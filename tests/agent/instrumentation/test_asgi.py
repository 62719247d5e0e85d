"""MODELTEL_GC_FREEZE: start-up objects frozen once, only when asked for."""

import gc

import pytest

from modeltel.agent import settings
from modeltel.agent.instrumentation import asgi


@pytest.fixture
def agent_settings():
    saved = settings._current
    yield
    settings._current = saved
    gc.unfreeze()


@pytest.mark.parametrize("freeze", [False, True])
def test_start_up_objects_are_frozen_only_when_opted_in(agent_settings, freeze: bool) -> None:
    gc.unfreeze()
    start_up = [[index] for index in range(1000)]  # tracked containers, as an application's are
    settings._current = settings.AgentSettings(gc_freeze=freeze)
    asgi._freeze_start_up_objects()
    assert (gc.get_freeze_count() >= len(start_up)) is freeze
    assert gc.is_tracked(start_up[0])

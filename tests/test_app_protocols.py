"""The fakes the app tests use and the engine's real pipelines implement the same protocols
(engine/tasks/protocol.py) with the same call signatures: a change to one side fails here."""

from __future__ import annotations

import inspect

import pytest

from engine.runtime.providers import DeviceChoice
from engine.tasks import registry
from engine.tasks.protocol import PIPELINE_PROTOCOLS, DeviceInfo, Pipeline
from tests.app_support import FAKE_PIPELINES, FakeDevice, SlowPipeline


def call_shape(function) -> list[tuple[str, object, object]]:
    """(name, kind, default) of each parameter: what a caller depends on; annotations are
    strings under `from __future__ import annotations` and differ only in spelling."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def members(protocol: type) -> set[str]:
    """The attributes a protocol asks for (its own and its bases')."""
    names = set()
    for cls in protocol.__mro__:
        if cls.__module__ == "engine.tasks.protocol":
            names |= {n for n in vars(cls) if not n.startswith("_")}
            names |= set(getattr(cls, "__annotations__", {}))
    return names


def test_every_registry_task_has_a_protocol_and_a_fake():
    assert set(PIPELINE_PROTOCOLS) == set(registry.TASK_NAMES) == set(FAKE_PIPELINES)


@pytest.mark.parametrize("task", registry.TASK_NAMES)
def test_the_real_pipeline_and_its_fake_take_the_protocols_call(task):
    protocol = PIPELINE_PROTOCOLS[task]
    real = registry.task_spec(task).pipeline_class()
    fake = FAKE_PIPELINES[task]
    expected = call_shape(protocol.__call__)
    assert call_shape(real.__call__) == expected, f"{real.__name__} differs from {protocol}"
    assert call_shape(fake.__call__) == expected, f"{fake.__name__} differs from {protocol}"


@pytest.mark.parametrize("task", registry.TASK_NAMES)
def test_the_real_pipeline_and_its_fake_have_every_member(task):
    protocol = PIPELINE_PROTOCOLS[task]
    wanted = members(protocol) | {"__call__"}
    assert {"model_name", "device"} <= wanted
    real = registry.task_spec(task).pipeline_class()
    assert all(hasattr(real, name) for name in wanted), wanted - set(dir(real))
    made = FAKE_PIPELINES[task]({}) if task in ("ner", "question-answering") \
        else FAKE_PIPELINES[task]()
    assert isinstance(made, protocol)
    assert isinstance(made.device, DeviceInfo)


def test_the_slow_stand_in_is_a_pipeline():
    assert isinstance(SlowPipeline(), Pipeline)


def test_the_fake_device_is_the_real_devices_shape():
    real = DeviceChoice("auto", "CPUExecutionProvider", "no GPU provider found")
    assert isinstance(real, DeviceInfo) and isinstance(FakeDevice(), DeviceInfo)
    assert call_shape(FakeDevice.describe) == call_shape(DeviceChoice.describe)
    assert call_shape(DeviceInfo.describe) == call_shape(DeviceChoice.describe)
    assert (FakeDevice().is_gpu, FakeDevice().fallback_reason) == (real.is_gpu,
                                                                  real.fallback_reason)

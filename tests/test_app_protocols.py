"""The fakes the app tests use and the engine's real pipelines implement the same protocols
(engine/tasks/protocol.py) with the same call signatures: a change to one side fails here."""

from __future__ import annotations

import inspect

import pytest

from engine.models import download, store
from engine.runtime.providers import DeviceChoice
from engine.tasks import registry
from engine.tasks.protocol import PIPELINE_PROTOCOLS, DeviceInfo, ModelsApi, Pipeline
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


# --- the models API ------------------------------------------------------------------------------
def _real_models_function(name: str):
    from engine import models

    # engine.models.download_model defers to the downloader, imported only when used.
    return download.download_model if name == "download_model" else \
        getattr(models, name, None) or getattr(store, name)


def takes_the_calls_of(function, method) -> list[str]:
    """What is wrong with `function` taking every call `method` (a protocol's) describes: its
    positional parameters by position and name, its keywords by name, the same defaults, and
    nothing else required."""
    wanted = [p for p in inspect.signature(method).parameters.values() if p.name != "self"]
    params = [p for p in inspect.signature(function).parameters.values() if p.name != "self"]
    by_name = {p.name: p for p in params}
    any_keyword = any(p.kind is p.VAR_KEYWORD for p in params)
    problems = []
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for i, p in enumerate(w for w in wanted if w.kind is w.POSITIONAL_OR_KEYWORD):
        if i >= len(positional) or positional[i].name != p.name:
            problems.append(f"positional {i}: {p.name}")
        elif positional[i].default != p.default:
            problems.append(f"{p.name}'s default")
    for p in (w for w in wanted if w.kind is w.KEYWORD_ONLY):
        have = by_name.get(p.name)
        if have is None and not any_keyword:
            problems.append(f"keyword {p.name}")
        elif have is not None and (have.kind is have.POSITIONAL_ONLY or have.default != p.default):
            problems.append(f"keyword {p.name}'s kind or default")
    names = {w.name for w in wanted}
    problems += [f"required {p.name}" for p in params if p.name not in names
                 and p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return problems


API_METHODS = [n for n in vars(ModelsApi) if not n.startswith("_")]


@pytest.mark.parametrize("name", API_METHODS)
def test_the_engines_models_functions_take_the_apps_calls(name):
    assert takes_the_calls_of(_real_models_function(name), getattr(ModelsApi, name)) == []


def test_the_models_api_fakes_take_the_apps_calls():
    from tests.test_app_models import SlowHub
    from tests.test_app_ui_models import FakeApi

    checked = 0
    for fake in (SlowHub, FakeApi):
        for name in API_METHODS:
            if name in vars(fake):
                assert takes_the_calls_of(vars(fake)[name], getattr(ModelsApi, name)) == [], \
                    f"{fake.__name__}.{name}"
                checked += 1
    assert checked == 2  # download_model and detect_task


def test_the_check_sees_a_fake_that_drifted():
    def detect_task(self, folder):  # the name the app's fake once had
        return None

    def download_model(self, repo_id, progress=None, cancel=None, stage=None):
        return None

    assert takes_the_calls_of(detect_task, ModelsApi.detect_task) == [
        "positional 0: model_dir", "required folder"]
    assert takes_the_calls_of(download_model, ModelsApi.download_model) == [
        "positional 1: task"]

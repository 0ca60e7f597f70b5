"""The positional-only shortcut of ``check_call`` accepts exactly what ``Signature.bind``
accepts, for every kind of signature (the shortcut skips bind on enqueue's hot path)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from spoolrt.api.tasks import TaskFunction, _positional_range


def plain(a: int, b: int) -> None: ...
def defaults(a: int, b: int = 1, c: int = 2) -> None: ...
def star(a: int, *rest: int) -> None: ...
def keyword_default(a: int, *, k: int = 1) -> None: ...
def keyword_required(a: int, *, k: int) -> None: ...
def positional_only(a: int, /, b: int = 0) -> None: ...
def everything(a: int, /, b: int, *rest: int, k: int = 0, **more: int) -> None: ...
def nothing() -> None: ...


SIGNATURES = [
    plain,
    defaults,
    star,
    keyword_default,
    keyword_required,
    positional_only,
    everything,
    nothing,
]


def binds(func: Callable[..., Any], count: int) -> bool:
    try:
        inspect.signature(func).bind(*range(count))
    except TypeError:
        return False
    return True


@pytest.mark.parametrize("func", SIGNATURES, ids=lambda f: f.__name__)
def test_the_shortcut_agrees_with_bind(func: Callable[..., Any]) -> None:
    low, high = _positional_range(inspect.signature(func))
    for count in range(7):
        if low <= count <= high:  # the shortcut says "fits": bind must agree
            assert binds(func, count), (func.__name__, count)
    task: TaskFunction[..., Any] = TaskFunction(func, name=f"fast-bind:{func.__name__}")
    for count in range(7):
        if binds(func, count):
            task.check_call(tuple(range(count)), {})
        else:
            with pytest.raises(TypeError, match="nothing was spooled"):
                task.check_call(tuple(range(count)), {})


def test_keywords_still_go_through_bind() -> None:
    task: TaskFunction[..., Any] = TaskFunction(plain, name="fast-bind:keywords")
    task.check_call((1,), {"b": 2})
    with pytest.raises(TypeError, match="multiple values"):
        task.check_call((1, 2), {"b": 2})
    with pytest.raises(TypeError, match="unexpected keyword"):
        task.check_call((1, 2), {"c": 2})

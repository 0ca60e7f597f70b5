from __future__ import annotations

import pytest

from spoolrt import Spooler, SpoolerTask
from spoolrt.api.tasks import task_functions, task_types
from spoolrt.core.errors import DuplicateTaskName

SOURCE = """
from spoolrt import Spooler

@Spooler.task()
def twice(x):
    return x
"""


def _exec_module(source: str, module: str, filename: str) -> dict[str, object]:
    namespace: dict[str, object] = {"__name__": module}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def test_functions_are_registered_by_module_and_qualname() -> None:
    @Spooler.task()
    def local_name(x: int) -> int:
        return x

    expected = (
        f"{__name__}:test_functions_are_registered_by_module_and_qualname.<locals>.local_name"
    )
    assert local_name.name == expected
    assert task_functions[local_name.name] is local_name
    assert local_name.func(3) == 3  # the original stays callable inline


def test_the_same_module_executed_again_re_registers() -> None:
    first = _exec_module(SOURCE, "reg_mod_again", "/app/reg_mod_again.py")
    second = _exec_module(SOURCE, "reg_mod_again", "/app/reg_mod_again.py")
    assert task_functions["reg_mod_again:twice"] is second["twice"]
    assert first["twice"] is not second["twice"]


def test_a_different_function_under_a_taken_name_is_refused() -> None:
    _exec_module(SOURCE, "reg_mod_clash", "/app/one.py")
    with pytest.raises(DuplicateTaskName, match="reg_mod_clash:twice"):
        _exec_module(SOURCE, "reg_mod_clash", "/app/other.py")


def test_explicit_names_collide_too() -> None:
    @Spooler.task(name="explicit-name")
    def a() -> None: ...

    with pytest.raises(DuplicateTaskName):

        @Spooler.task(name="explicit-name")
        def b() -> None: ...


def test_task_types_register_and_refuse_duplicates() -> None:
    class Resize(SpoolerTask):
        type_id = "unit-resize"

    assert task_types["unit-resize"] is Resize
    with pytest.raises(DuplicateTaskName):

        class OtherResize(SpoolerTask):
            type_id = "unit-resize"


def test_abstract_intermediates_do_not_register() -> None:
    class Base(SpoolerTask, abstract=True):
        type_id = "unit-abstract"

    class Concrete(Base):
        type_id = "unit-concrete"

    assert "unit-abstract" not in task_types
    assert task_types["unit-concrete"] is Concrete


def test_decorator_options_are_checked_at_decoration_time() -> None:
    from spoolrt.core.errors import InvalidTaskOption

    with pytest.raises(InvalidTaskOption):

        @Spooler.task(priority=-1)
        def bad() -> None: ...

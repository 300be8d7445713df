"""Every route's unit of work commits before its response is sent (``SessionDep``).

A session dependency with FastAPI's default scope is closed, and so committed, after the
response has left: a failed commit would already have been answered 201. The WeCom routes did
exactly that before ``SessionDep``; this test keeps every route, present and future, on it.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from siyu.capabilities import provided
from siyu.console.views import router as console_shell
from siyu.webkit import db_session


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependencies(sub)


def _routes() -> Iterator[APIRoute]:
    routers = [r for _cap, r in provided("routers")] + [r for _cap, r in provided("pages")]
    for router in [*routers, console_shell]:
        yield from (r for r in router.routes if isinstance(r, APIRoute))


def test_every_route_commits_before_it_answers() -> None:
    sessions = late = 0
    for route in _routes():
        for dep in _dependencies(route.dependant):
            if dep.call is db_session:
                sessions += 1
                if dep.scope != "function":
                    late += 1
                    print("commits after answering:", sorted(route.methods or ()), route.path)
    assert sessions > 100  # the walk found the routes' sessions
    assert late == 0

"""Telling Ray's errors apart: a container (actor) that is gone, versus an error of the call itself."""

from __future__ import annotations

ACTOR_DEATH_NAMES = ("ActorDiedError", "ActorUnavailableError", "RayActorError", "ActorUnschedulableError")


def is_actor_death(exc: BaseException) -> bool:
    """True for Ray's errors that mean the actor (the container) itself is gone."""
    return any(type(exc).__name__ == n or n in (c.__name__ for c in type(exc).__mro__) for n in ACTOR_DEATH_NAMES)


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (Ray's are long), or its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

"""Structure names across clinics: case-insensitive matching with the table in ``configs/``."""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

from .._resources import resource_dir
from ..errors import ConfigError, InputError

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def normalise(name: str) -> str:
    """Lower case with every non-alphanumeric character removed: ``"Spinal_Cord "`` -> ``"spinalcord"``."""
    return _NOT_ALNUM.sub("", str(name).casefold())


@functools.cache
def synonym_groups() -> dict[str, frozenset[str]]:
    """Normalised name -> the normalised names of its synonym group (from ``structure_synonyms.toml``)."""
    path = resource_dir("configs") / "structure_synonyms.toml"
    with open(path, "rb") as handle:
        table = tomllib.load(handle).get("structures", {})
    groups: dict[str, frozenset[str]] = {}
    for canonical, others in table.items():
        group = frozenset(normalise(n) for n in [canonical, *others])
        for member in group:
            if member in groups and groups[member] != group:
                raise ConfigError(f"{path}: the name {member!r} appears in two synonym entries (one is {canonical!r})")
            groups[member] = group
    return groups


def find_structure(masks_or_names: Mapping[str, Any] | Iterable[str], wanted_name: str) -> str:
    """The available structure name that means ``wanted_name``.

    An exact match ignoring case and punctuation wins; otherwise the synonym table
    (``configs/structure_synonyms.toml``) is used, so ``"Spinal Cord"`` finds ``"CORD"`` or
    ``"Myelon"``.

    Parameters
    ----------
    masks_or_names : mapping or iterable of str
        The names available (e.g. the dict returned by ``read_structures``).
    wanted_name : str

    Returns
    -------
    str
        The key as spelled in ``masks_or_names``.

    Raises
    ------
    InputError
        No match (listing the names available) or several equally good matches.
    """
    available = list(masks_or_names.keys() if isinstance(masks_or_names, Mapping) else masks_or_names)
    wanted = normalise(wanted_name)
    exact = [name for name in available if normalise(name) == wanted]
    if len(exact) == 1:
        return exact[0]
    group = synonym_groups().get(wanted, frozenset({wanted}))
    matches = exact or [name for name in available if normalise(name) in group]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise InputError(f"structure {wanted_name!r} is ambiguous: {matches} all match; name the one you mean exactly")
    raise InputError(
        f"no structure matches {wanted_name!r} (synonyms tried: {sorted(group)}); available: {sorted(available)}. "
        "Add the clinic's spelling to configs/structure_synonyms.toml or use one of the available names"
    )

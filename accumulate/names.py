"""Structure names across clinics: one matcher for every place a setting names a structure.

A name in the settings (an alpha/beta, a recovery model, a constraint) finds the case's
structure in this order: the same name ignoring case and punctuation (``"Spinal_Cord"`` =
``"spinal cord"``; two such names in one case, "SpinalCord" and "Spinal Cord", are
ambiguous), else one of its synonyms in ``configs/structure_synonyms.toml``
(``"SpinalCord"`` finds ``"CORD"`` or ``"Myelon"``). Two or more equally good candidates are an
:class:`AmbiguousStructure` error that lists them and says how to choose
(``[structures.rename]``); it is never resolved silently.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._resources import resource_dir
from .errors import ConfigError, InputError

__all__ = ["AmbiguousStructure", "Match", "find_structure", "match_structure", "normalise", "synonym_groups"]

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


class AmbiguousStructure(InputError):
    """Several structures of a case match one name; ``candidates`` lists them."""

    def __init__(self, wanted: str, candidates: list[str]) -> None:
        self.wanted, self.candidates = wanted, list(candidates)
        example = "\n".join(f'  "{c}" = "{wanted}"' for c in candidates[:1])
        super().__init__(
            f"structure {wanted!r} is ambiguous: the case has {candidates}, which all match it. Say which one is meant in "
            f"the configuration, e.g.\n[structures.rename]\n{example}\n(the case's name = the name the settings use)"
        )


def normalise(name: str) -> str:
    """Lower case with every non-alphanumeric character removed: ``"Spinal_Cord "`` -> ``"spinalcord"``.

    Parameters
    ----------
    name : str
        A structure name as written.

    Returns
    -------
    str

    Examples
    --------
    >>> normalise("Spinal_Cord "), normalise("PTV 70")
    ('spinalcord', 'ptv70')
    """
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


@dataclass(frozen=True)
class Match:
    """How one wanted name matched: ``found`` (the case's spelling, or None), ``how`` and the ``candidates``.

    ``how`` is ``"exact"``, ``"case/punctuation"``, ``"synonym"``, ``"absent"`` or ``"ambiguous"``.
    """

    wanted: str
    found: str | None
    how: str
    candidates: tuple[str, ...] = ()


def match_structure(masks_or_names: Mapping[str, Any] | Iterable[str], wanted_name: str) -> Match:
    """The :class:`Match` of ``wanted_name`` among the available names (see the module docstring).

    Parameters
    ----------
    masks_or_names, wanted_name
        As for :func:`find_structure`.

    Returns
    -------
    Match
        How it matched; ``found`` is None when absent or ambiguous (never an error).

    Examples
    --------
    >>> match_structure(["BODY", "Spinal Cord", "SpinalCord"], "spinal_cord").how
    'ambiguous'
    >>> match_structure(["BODY", "Myelon"], "SpinalCord")
    Match(wanted='SpinalCord', found='Myelon', how='synonym', candidates=('Myelon',))
    """
    available = list(masks_or_names.keys() if isinstance(masks_or_names, Mapping) else masks_or_names)
    wanted = normalise(wanted_name)
    same = [name for name in available if normalise(name) == wanted]
    if len(same) == 1:
        return Match(wanted_name, same[0], "exact" if same[0] == wanted_name else "case/punctuation", tuple(same))
    if len(same) > 1:
        return Match(wanted_name, None, "ambiguous", tuple(same))
    group = synonym_groups().get(wanted, frozenset({wanted}))
    synonyms = [name for name in available if normalise(name) in group]
    if len(synonyms) == 1:
        return Match(wanted_name, synonyms[0], "synonym", tuple(synonyms))
    return Match(wanted_name, None, "ambiguous" if synonyms else "absent", tuple(synonyms))


def find_structure(masks_or_names: Mapping[str, Any] | Iterable[str], wanted_name: str) -> str:
    """The available structure name that means ``wanted_name``.

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
    AmbiguousStructure
        Several equally good matches (listing them, and how to choose).
    InputError
        No match (listing the names available).

    Examples
    --------
    >>> find_structure(["BODY", "Cord", "PTV"], "SpinalCord")
    'Cord'
    """
    match = match_structure(masks_or_names, wanted_name)
    if match.found is not None:
        return match.found
    if match.how == "ambiguous":
        raise AmbiguousStructure(wanted_name, list(match.candidates))
    available = list(masks_or_names.keys() if isinstance(masks_or_names, Mapping) else masks_or_names)
    group = synonym_groups().get(normalise(wanted_name), frozenset({normalise(wanted_name)}))
    raise InputError(
        f"no structure matches {wanted_name!r} (synonyms tried: {sorted(group)}); available: {sorted(available)}. "
        "Add the clinic's spelling to configs/structure_synonyms.toml or use one of the available names"
    )

"""The pipeline's stages, announced and timed: ``[k/n] name ...`` then ``name: seconds``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("accumulate")


class Stages:
    """Announces and times the stages of a run; ``seconds`` maps each stage name to its wall time (s).

    ``skipped`` names stages of :attr:`NAMES` this run does not have (not counted in ``[k/n]``).
    """

    NAMES = ("read courses", "structures and parameter maps", "displacement fields", "warp prior doses",
             "EQD2, recovery and remaining dose", "DVHs and constraints", "DIR uncertainty", "write outputs")  # fmt: skip

    def __init__(self, progress: Callable[[str], None], skipped: tuple[str, ...] = ()) -> None:
        self.progress, self.seconds, self._started, self._index = progress, {}, 0.0, 0
        self.names = tuple(name for name in self.NAMES if name not in skipped)

    def start(self, name: str) -> None:
        self._index = self.names.index(name) + 1
        self._started, self._name = time.perf_counter(), name
        self.progress(f"[{self._index}/{len(self.names)}] {name} ...")

    def done(self) -> None:
        elapsed = time.perf_counter() - self._started
        self.seconds[self._name] = round(elapsed, 3)
        self.progress(f"      {self._name}: {elapsed:.1f} s")
        log.info("stage '%s' took %.2f s", self._name, elapsed)


def quiet() -> Stages:
    """Stages that time without announcing (for re-evaluations nobody watches)."""
    return Stages(lambda line: None)

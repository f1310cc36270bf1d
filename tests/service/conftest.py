"""Fixtures of the service tests: the demo case with a deformable REG of its true field, a destination node."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pytest
from dicom_nodes import StoreNode

from accumulate.io import write_deformable_registration
from accumulate.phantom import DemoCase, write_demo_case
from accumulate.registration import read_field
from accumulate.service._service import Service
from accumulate.service._settings import load_service_settings


@dataclass(frozen=True)
class SentCase:
    """The demo case as a planning system would export it: two course folders and a REG (reference -> prior)."""

    case: DemoCase
    reg: Path

    @property
    def prior(self) -> Path:
        return self.case.prior.folder

    @property
    def reirradiation(self) -> Path:
        return self.case.reirradiation.folder


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> SentCase:
    root = tmp_path_factory.mktemp("service-case")
    case = write_demo_case(root / "hn", size="test")
    (root / "reg").mkdir()
    reg = write_deformable_registration(read_field(case.true_field_path), root / "reg" / "REG.dcm",
                                        fixed_like=case.reirradiation.dose_path,
                                        moving_frame_uid=case.prior.frame_of_reference_uid)  # fmt: skip
    return SentCase(case, reg)


@pytest.fixture
def destination(tmp_path):
    node = StoreNode(tmp_path / "destination")
    yield node
    node.stop()


@pytest.fixture
def make_service(tmp_path):
    """Start a service from a SERVICE.toml (in-process, on loopback); stopped at the end of the test."""
    started = []

    def start(config):
        service = Service(load_service_settings(config)).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop(timeout_s=60)


@pytest.fixture
def service_log():
    """The service's log lines while the test runs."""
    lines = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = logging.getLogger("accumulate.service")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(level)

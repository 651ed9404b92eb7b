"""The moto server every AWS test shares, started once per session (tests/support/moto_server.py)."""

import pytest

from support.moto_server import MotoServer


@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    with MotoServer(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture
def aws_env(moto, tmp_path):
    """The AWS CLI's environment for one test: moto's endpoint, test credentials, nothing else."""
    return moto.environment(tmp_path)

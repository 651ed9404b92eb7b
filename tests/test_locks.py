"""The lock files agree with what they are compiled from (`make lock`, docs/emr-install.md): a pin
changed in requirements*.txt or a package named in requirements-worker.in without `make lock`
fails here, offline, before any install runs what CI did not test."""

import pytest

from support.helpers import REPO
from support.lockfile import lock_entries, lock_pins, normalized

LOCKS = ["requirements.lock", "requirements-worker.lock", "requirements-dev.lock"]
EMR_PLATFORM = "--python-version 3.11 --python-platform x86_64-manylinux_2_34"


def requirement_pins(file_name):
    """{name: version} of a requirements file's `name==version` lines, following `-r other.txt`."""
    pins = {}
    for line in (REPO / file_name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            pins.update(requirement_pins(line[3:].strip()))
        elif line:
            name, version = line.split("==")
            pins[normalized(name.split("[")[0])] = version
    return pins


def direct_pins(lock, source):
    """{name: version} of the lock's packages required by `source` itself (`# via -r source`)."""
    return {name: entry["version"] for name, entry in lock_entries(lock).items() if f"-r {source}" in entry["via"]}


@pytest.mark.parametrize("lock", LOCKS)
def test_every_package_of_each_lock_is_pinned_with_hashes_for_emrs_platform(lock):
    text = (REPO / lock).read_text()
    assert EMR_PLATFORM in text.splitlines()[1], f"{lock} was not compiled by `make lock`"
    entries = lock_entries(lock)
    assert entries and all(entry["hashes"] for entry in entries.values()), lock


def test_the_lock_holds_exactly_the_pins_of_requirements_txt():
    assert direct_pins("requirements.lock", "requirements.txt") == requirement_pins("requirements.txt"), (
        "requirements.txt and requirements.lock disagree: run `make lock`")


def test_the_worker_lock_has_the_packages_of_requirements_worker_in_at_the_locks_versions():
    named = {normalized(line.split("#")[0].strip()) for line in
             (REPO / "requirements-worker.in").read_text().splitlines() if line.split("#")[0].strip()}
    assert set(direct_pins("requirements-worker.lock", "requirements-worker.in")) == named, (
        "requirements-worker.in and requirements-worker.lock disagree: run `make lock`")
    lock, worker = lock_pins("requirements.lock"), lock_pins("requirements-worker.lock")
    assert worker == {name: lock.get(name) for name in worker}, "worker versions differ from requirements.lock"


def test_the_dev_lock_has_the_runtime_lock_and_the_pins_of_requirements_dev_txt():
    dev, lock = lock_pins("requirements-dev.lock"), lock_pins("requirements.lock")
    assert {name: dev.get(name) for name in lock} == lock, "requirements-dev.lock differs from requirements.lock"
    pins = requirement_pins("requirements-dev.txt")
    assert {name: dev.get(name) for name in pins} == pins, (
        "requirements-dev.txt and requirements-dev.lock disagree: run `make lock`")


def test_make_and_conda_install_the_locks():
    makefile = (REPO / "Makefile").read_text()
    assert "pip install --quiet --require-hashes -r requirements.lock" in makefile
    assert "pip install --quiet --require-hashes -r requirements-dev.lock" in makefile
    assert "- -r requirements-dev.lock" in (REPO / "environment.yml").read_text()

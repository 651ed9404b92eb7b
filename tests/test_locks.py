"""The lock files agree with what they are compiled from (`make lock`, docs/emr-install.md): a pin
changed in requirements*.txt or a package named in requirements-worker.in without `make lock`
fails here, offline, before any install runs what CI did not test."""

import re

import pytest

from conftest import REPO

LOCKS = ["requirements.lock", "requirements-worker.lock", "requirements-dev.lock"]
EMR_PLATFORM = "--python-version 3.11 --python-platform x86_64-manylinux_2_34"


def normalized(name):
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


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


def lock_entries(file_name):
    """{name: {"version", "hashes", "via"}} of a lock compiled by uv: one block per package, its
    first line `name==version \\`, then `--hash=` lines and `# via` comment lines."""
    entries, entry = {}, None
    for line in (REPO / file_name).read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if not line.startswith(" "):
            match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+) \\", line)
            assert match, f"{file_name}: not an exact pin with hashes: {line!r}"
            entry = entries[normalized(match[1])] = {"version": match[2], "hashes": [], "via": []}
        elif line.strip().startswith("--hash=sha256:"):
            entry["hashes"].append(line.strip().rstrip(" \\"))
        else:
            entry["via"].append(line.strip().lstrip("#").strip().removeprefix("via").strip())
    return entries


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
    lock = {name: entry["version"] for name, entry in lock_entries("requirements.lock").items()}
    worker = {name: entry["version"] for name, entry in lock_entries("requirements-worker.lock").items()}
    assert worker == {name: lock.get(name) for name in worker}, "worker versions differ from requirements.lock"


def test_the_dev_lock_has_the_runtime_lock_and_the_pins_of_requirements_dev_txt():
    dev = {name: entry["version"] for name, entry in lock_entries("requirements-dev.lock").items()}
    lock = {name: entry["version"] for name, entry in lock_entries("requirements.lock").items()}
    assert {name: dev.get(name) for name in lock} == lock, "requirements-dev.lock differs from requirements.lock"
    pins = requirement_pins("requirements-dev.txt")
    assert {name: dev.get(name) for name in pins} == pins, (
        "requirements-dev.txt and requirements-dev.lock disagree: run `make lock`")


def test_make_and_conda_install_the_locks():
    makefile = (REPO / "Makefile").read_text()
    assert "pip install --quiet --require-hashes -r requirements.lock" in makefile
    assert "pip install --quiet --require-hashes -r requirements-dev.lock" in makefile
    assert "- -r requirements-dev.lock" in (REPO / "environment.yml").read_text()

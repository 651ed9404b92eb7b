"""Reading the lock files that `make lock` writes (uv's requirements format, with hashes)."""

import re

from support.helpers import REPO


def normalized(name):
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_entries(file_name):
    """{name: {"version", "hashes", "via"}} of a lock in the project folder: one block per package,
    its first line `name==version \\`, then `--hash=` lines and `# via` comment lines."""
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


def lock_pins(file_name):
    """{name: version} of every package of a lock."""
    return {name: entry["version"] for name, entry in lock_entries(file_name).items()}

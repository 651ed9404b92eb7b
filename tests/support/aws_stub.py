"""A stand-in `aws` command for the tests of bootstrap/*.sh: records every call, reaches no AWS.

`install_aws_stub(folder)` writes an executable `aws` into `folder`; put `folder` first on PATH.
Each call is appended to `folder/calls.jsonl` as its argument list, with the content of every
`file://` argument (the scripts pass temporary files that are gone once they exit). Answers:
`emr create-cluster` prints a cluster id, `emr add-steps` a step id, `s3 cp` (a folder with
`--recursive`) and `s3 sync` copy to and from the local folder `folder/s3/BUCKET/KEY` (the stub's
`s3 sync` copies everything: no --exclude, --delete), `s3 ls` succeeds when that local copy exists
(with --recursive --summarize it prints the objects' count), and any other call with `--query Q`
prints the answer to Q: from `stub_answers(folder, {Q: text})`, else from ANSWERS (a transient run
that went well).
"""

import json
import sys
from pathlib import Path

CLUSTER_ID = "j-STUBCLUSTER01"
STEP_ID = "s-STUBSTEP01"
# What the AWS CLI prints (--output text) for the queries of bootstrap/run-on-emr.sh, after a
# transient cluster whose step completed: 20 min 30 s from request to end.
ANSWERS = {
    "Cluster.Status.State": "TERMINATED",
    "Steps[0].Status.State": "COMPLETED",
    "Cluster.Status.StateChangeReason.Message": "Steps completed",
    "Cluster.Status.Timeline.[CreationDateTime,EndDateTime]":
        "2026-11-28T10:00:00.123000+00:00\t2026-11-28T10:20:30.456000+00:00",
}

STUB = '''#!{python}
import json, shutil, sys
from pathlib import Path

folder = Path({folder!r})
args = sys.argv[1:]
files = {{arg: Path(arg[len("file://"):]).read_text() for arg in args if arg.startswith("file://")}}
with open(folder / "calls.jsonl", "a") as calls:
    calls.write(json.dumps({{"args": args, "files": files}}) + "\\n")

def local(uri):
    return folder / "s3" / uri[len("s3://"):]

uris = [arg for arg in args if arg.startswith("s3://")]
answers = {{**{answers!r}, **json.loads((folder / "answers.json").read_text() if (folder / "answers.json").exists() else "{{}}")}}
if args[:2] == ["emr", "create-cluster"]:
    print({cluster_id!r})
elif args[:2] == ["emr", "add-steps"]:
    print({step_id!r})
elif args[:2] == ["s3", "ls"] and "--recursive" in args:
    objects = [path for path in local(uris[0]).rglob("*") if path.is_file()]
    print(f"\\nTotal Objects: {{len(objects)}}\\n   Total Size: 0")
elif args[:2] == ["s3", "ls"]:
    sys.exit(0 if local(uris[0]).exists() else 1)
elif args[:2] in (["s3", "cp"], ["s3", "sync"]):
    paths = [arg for arg in args[2:] if not arg.startswith("-")]
    source, target = paths[-2], paths[-1]
    source = local(source) if source.startswith("s3://") else Path(source)
    target = local(target) if target.startswith("s3://") else Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if args[1] == "sync" or "--recursive" in args:
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        shutil.copy(source, target)
elif "--query" in args:
    print(answers[args[args.index("--query") + 1]])
'''


def install_aws_stub(folder: Path) -> Path:
    """Write the stub `aws` into `folder` and return `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    stub = folder / "aws"
    stub.write_text(STUB.format(python=sys.executable, folder=str(folder), cluster_id=CLUSTER_ID, step_id=STEP_ID,
                                answers=ANSWERS))
    stub.chmod(0o755)
    return folder


def aws_calls(folder: Path) -> list:
    """Every recorded call: dicts with `args` (list) and `files` (file:// argument -> content)."""
    calls = folder / "calls.jsonl"
    return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []


def stub_s3_object(folder: Path, uri: str, content: str = "") -> None:
    """Make `uri` exist for the stub's `s3 ls` and `s3 cp`."""
    path = folder / "s3" / uri[len("s3://"):]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


def stub_answers(folder: Path, answers: dict) -> None:
    """Make the stub print `answers[Q]` for calls with `--query Q`, over ANSWERS."""
    (folder / "answers.json").write_text(json.dumps(answers))


def option(args: list, name: str) -> str:
    """Value following option `name` in an argument list."""
    assert name in args, f"{name} not passed: {args}"
    return args[args.index(name) + 1]

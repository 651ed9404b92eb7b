"""bootstrap/run-on-emr.sh --plan: the cluster it picks for an input and its estimated cost, from
bootstrap/prices.tsv, and the bad input it refuses before anything is created."""

import re

import pytest

from support.emr_scripts import run_script

PROJECT = "s3://plan-bucket/fruits-featurize"


def plan(env, images, *options):
    """The --plan line of run-on-emr.sh for `images` images: (cluster, billed minutes, cost in $)."""
    process = run_script("run-on-emr.sh", PROJECT, "--images", images, "--plan", *options,
                         "-p", "input_path", "s3://plan-bucket/in", "-p", "output_path", "s3://plan-bucket/out", env=env)
    assert process.returncode == 0, process.stderr
    match = re.fullmatch(r"\d+ images: (.+), about ([\d.]+) billed minutes, about \$([\d.]+)\n", process.stdout)
    assert match, process.stdout
    return match.group(1), float(match.group(2)), float(match.group(3))


def test_full_fruits_360_costs_under_20_cents_on_demand(aws_env):
    cluster, _, cost = plan(aws_env, 90000)
    assert cluster.startswith("1 x m5.2xlarge (ON_DEMAND), a single node") and cost < 0.20


def test_full_fruits_360_costs_under_10_cents_with_spot(aws_env):
    cluster, _, cost = plan(aws_env, 90000, "--spot")
    assert cluster.startswith("1 x m5.2xlarge (SPOT), a single node") and cost < 0.10


def test_a_large_input_gets_core_nodes_to_finish_within_max_minutes(aws_env):
    cluster, minutes, _ = plan(aws_env, 10_000_000, "--max-minutes", "60")
    assert re.fullmatch(r"1 x m5.xlarge \(ON_DEMAND\) \+ \d+ x m5.\w+ \(ON_DEMAND\)", cluster) and minutes <= 60


def test_with_spot_core_nodes_go_on_spot_and_the_primary_stays_on_demand(aws_env):
    cluster, _, _ = plan(aws_env, 10_000_000, "--max-minutes", "60", "--spot")
    assert cluster.startswith("1 x m5.xlarge (ON_DEMAND) + ") and cluster.endswith("(SPOT)")


@pytest.mark.parametrize("arguments, message", [
    (["--images", "many"], "--images must be a whole number"),
    (["--images", "10", "--max-minutes", "0"], "--max-minutes must be a whole number"),
    (["--images", "10", "--prices", "/nonexistent.tsv"], "prices file /nonexistent.tsv not found"),
    (["--images", "10"], "input_path is 's3://YOUR-BUCKET/fruits-360/Training': set it in params/emr.yaml"),
])
def test_run_on_emr_refuses_bad_input_naming_it(aws_env, arguments, message):
    process = run_script("run-on-emr.sh", PROJECT, *arguments, env=aws_env)
    assert process.returncode != 0 and message in process.stderr

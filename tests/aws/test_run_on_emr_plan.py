"""bootstrap/run-on-emr.sh --plan: the cluster it picks for an input and its estimated cost, from
bootstrap/prices.tsv, and the bad input it refuses before anything is created."""

import math
import re

import pytest

from support.emr_scripts import clusters_named, make_bucket, put_object, run_script

PROJECT = "s3://plan-bucket/fruits-featurize"


NO_MEASURES = "/nonexistent/measured.tsv"  # prices.tsv's figures only, whatever a developer's runs measured


def plan(env, images, *options):
    """The --plan line of run-on-emr.sh for `images` images: (cluster, billed minutes, cost in $)."""
    process = run_script("run-on-emr.sh", PROJECT, "--images", images, "--plan", "--measured", NO_MEASURES, *options,
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


def test_the_full_fruits_360_estimate_is_the_arithmetic_of_prices_tsv(aws_env):
    # 12 + 3 + 2 fixed minutes + 90,000 images / (8 vCPUs x 100 images/s) = 18.9 minutes, at
    # 0.428 + 0.096 + (15 + 12) GiB x 0.088 / 720 + 0.005 = 0.5323 $/h on demand (x 18.9 / 60 = $0.168), 0.2753 $/h on spot ($0.087).
    assert plan(aws_env, 90000)[1:] == (18.9, 0.168)
    assert plan(aws_env, 90000, "--spot")[1:] == (18.9, 0.087)


def test_each_core_node_gets_a_data_volume_for_its_share_of_the_images(aws_env):
    process = run_script("run-on-emr.sh", PROJECT, "--images", "10000000", "--plan", "--measured", NO_MEASURES, "-p", "input_path",
                         "s3://plan-bucket/in", "-p", "output_path", "s3://plan-bucket/out", env=aws_env)
    count = int(re.search(r"\+ (\d+) x m5.\w+ \(ON_DEMAND\)", process.stdout).group(1))
    images_per_node = -(-10_000_000 // count)
    core_gib = math.ceil((8 + images_per_node * 32 / 1048576) / 0.9)
    assert f"15 GiB root + 9 GiB data per node on the primary, {core_gib} GiB data on each core node" in process.stderr


def test_a_large_input_gets_core_nodes_to_finish_within_max_minutes(aws_env):
    cluster, minutes, _ = plan(aws_env, 10_000_000, "--max-minutes", "60")
    assert re.fullmatch(r"1 x m5.2xlarge \(ON_DEMAND\) \+ \d+ x m5.\w+ \(ON_DEMAND\)", cluster) and minutes <= 60


def test_with_spot_core_nodes_go_on_spot_and_the_primary_stays_on_demand(aws_env):
    cluster, _, _ = plan(aws_env, 10_000_000, "--max-minutes", "60", "--spot")
    assert cluster.startswith("1 x m5.2xlarge (ON_DEMAND) + ") and cluster.endswith("(SPOT)")


def plan_log(env, images):
    """What run-on-emr.sh --plan logs for `images` images."""
    process = run_script("run-on-emr.sh", PROJECT, "--images", images, "--plan", "--measured", NO_MEASURES,
                         "-p", "input_path", "s3://plan-bucket/in", "-p", "output_path", "s3://plan-bucket/out", env=env)
    assert process.returncode == 0, process.stderr
    return process.stdout + process.stderr


@pytest.mark.parametrize("images, heap, primary", [
    (90_000, 4, "1 x m5.2xlarge (ON_DEMAND), a single node"),  # at the minimum heap, one node is cheapest
    (3_000_000, 5, "1 x m5.4xlarge (ON_DEMAND), a single node"),  # 2 GiB + 1 KiB per image, rounded up: 32 + 1 GiB
    (10_000_000, 12, "1 x m5.2xlarge (ON_DEMAND) + "),  # 12 + 7 > 16 GiB: the primary outgrows the m5.xlarge
    (30_000_000, 31, "1 x m5.4xlarge (ON_DEMAND) + "),
])
def test_the_driver_heap_grows_with_the_images_and_the_primary_with_it(aws_env, images, heap, primary):
    log = plan_log(aws_env, images)
    assert f"driver heap {heap} GiB (the notebook's driver_memory {heap}g" in log
    assert f"{images} images: {primary}" in log


def test_an_input_too_large_for_any_primary_is_refused_with_what_to_do(aws_env):
    process = run_script("run-on-emr.sh", PROJECT, "--images", "100000000", "--plan", "--measured", NO_MEASURES,
                         "-p", "input_path", "s3://plan-bucket/in", "-p", "output_path", "s3://plan-bucket/out",
                         env=aws_env)
    assert process.returncode != 0
    assert "no instance type in the prices has 105 GiB for a driver heap of 98 GiB: split the input" in process.stderr


@pytest.mark.parametrize("arguments, message", [
    (["--images", "many"], "--images must be a whole number"),
    (["--images", "10", "--max-minutes", "0"], "--max-minutes must be a whole number"),
    (["--images", "10", "--prices", "/nonexistent.tsv"], "prices file /nonexistent.tsv not found"),
    (["--images", "10"], "input_path is 's3://YOUR-BUCKET/fruits-360/Training': set it in params/emr.yaml"),
])
def test_run_on_emr_refuses_bad_input_naming_it(aws_env, arguments, message):
    process = run_script("run-on-emr.sh", PROJECT, *arguments, env=aws_env)
    assert process.returncode != 0 and message in process.stderr


def test_run_on_emr_counts_the_images_under_input_path(moto, aws_env):
    make_bucket(moto, "counted")
    for i in range(7):
        put_object(moto, f"s3://counted/fruits/Apple/{i}.jpg", b"jpeg")
    process = run_script("run-on-emr.sh", PROJECT, "--plan", "--name", "plan-only", "--measured", NO_MEASURES, "-p", "input_path",
                         "s3://counted/fruits", "-p", "output_path", "s3://counted/out", env=aws_env)
    assert process.returncode == 0, process.stderr
    assert process.stdout.startswith("7 images: 1 x m5.2xlarge (ON_DEMAND), a single node")
    assert not clusters_named(moto, "plan-only")

"""The manifest's `cluster` entry: the notebook's cluster_record() reads the job-flow.json that EMR
writes on every node (here a fake one in a temporary folder) and says "local" anywhere else."""

import json

# The shape of EMR's /mnt/var/lib/info/job-flow.json (EMR Developer Guide, "JSON Configuration Files").
JOB_FLOW = {
    "jobFlowId": "j-1ABCDEFGHIJKL", "jobFlowCreationInstant": 1764300000000, "instanceCount": 2,
    "masterInstanceType": "m5.xlarge", "slaveInstanceType": "m5.2xlarge",
    "instanceGroups": [
        {"instanceGroupId": "ig-MASTER", "instanceGroupName": "MASTER", "instanceRole": "Master",
         "marketType": "OnDemand", "instanceType": "m5.xlarge", "requestedInstanceCount": 1},
        {"instanceGroupId": "ig-CORE", "instanceGroupName": "CORE", "instanceRole": "Core",
         "marketType": "Spot", "instanceType": "m5.2xlarge", "requestedInstanceCount": 1},
    ],
}


def test_on_an_emr_node_the_record_names_the_cluster_and_its_instance_groups(notebook, tmp_path, monkeypatch):
    (tmp_path / "job-flow.json").write_text(json.dumps(JOB_FLOW))
    monkeypatch.setenv("EMR_INFO_DIR", str(tmp_path))
    assert notebook.cluster_record() == {
        "platform": "emr", "cluster_id": "j-1ABCDEFGHIJKL",
        "instance_groups": [
            {"role": "Master", "instance_type": "m5.xlarge", "count": 1, "market": "OnDemand"},
            {"role": "Core", "instance_type": "m5.2xlarge", "count": 1, "market": "Spot"},
        ],
    }


def test_off_emr_the_record_says_local(notebook, tmp_path, monkeypatch):
    monkeypatch.setenv("EMR_INFO_DIR", str(tmp_path / "absent"))
    assert notebook.cluster_record() == {"platform": "local", "cluster_id": None, "instance_groups": []}

"""Launcher dry runs: process counts, coordinator and mesh for TPU pods, SLURM and multi-node."""

import pytest

from xlmr_jax import cli, launching


def test_tpu_v4_32_dry_run(capsys):
    argv = ["launch", "tpu", "--tpu", "pod", "--zone", "us-central2-b"]
    argv += ["--accelerator_type", "v4-32", "--dry_run", "--"]
    argv += ["--gin_file=models/xl.gin", "--gin_file=sharding/tp2.gin"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    # v4-32 = 32 TensorCores = 16 chips on 4 hosts of 4 chips.
    assert "4 hosts x 4 devices = 16 devices in 4 processes; mesh data=8 x model=2" in out
    assert "--worker=all" in out and "xlmr train --gin_file=models/xl.gin" in out


def test_slurm_two_nodes_eight_gpus_dry_run(capsys):
    argv = ["launch", "slurm", "--nodes", "2", "--gpus_per_node", "8", "--dry_run", "--"]
    argv += ["--gin_file=models/xxl.gin", "--gin_file=sharding/tp8.gin"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "16 devices in 16 processes; mesh data=2 x model=8" in out
    assert "#SBATCH --nodes=2" in out and "#SBATCH --ntasks-per-node=8" in out
    assert "#SBATCH --signal=TERM@120" in out


def test_multinode_commands_name_coordinator_and_ranks(capsys):
    argv = ["launch", "multinode", "--coordinator", "10.0.0.1:1234", "--nodes", "2", "--"]
    argv += ["--gin_file=models/base.gin"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    for rank in (0, 1):
        assert f"node {rank}: xlmr train --coordinator_address=10.0.0.1:1234" in out
        assert f"--num_processes=2 --process_id={rank}" in out


def test_finetune_is_launched_like_train(capsys):
    argv = ["launch", "slurm", "--nodes", "1", "--command", "finetune", "--dry_run", "--"]
    argv += ["--gin_file=finetune/xnli_translate_train_all.gin", "--gin.MODEL_DIR='/runs/x'"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "#SBATCH --job-name=xlmr-finetune" in out
    assert "exec xlmr finetune --gin_file=finetune/xnli_translate_train_all.gin" in out


def test_mesh_that_does_not_fit_is_refused():
    with pytest.raises(ValueError, match="does not divide"):
        launching.Job(1, 8, 2, 3, None).validate()
    with pytest.raises(ValueError, match="inside a host"):
        launching.Job(2, 4, 2, 8, None).validate()
    with pytest.raises(ValueError, match="Unknown TPU type"):
        launching.tpu_job("v9-8", 1)


def test_tpu_slice_shapes():
    assert launching.tpu_job("v5p-128", 8).devices == 64
    job = launching.tpu_job("v5e-16", 4)
    assert (job.hosts, job.devices_per_host) == (2, 8)

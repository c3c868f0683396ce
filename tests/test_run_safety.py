"""What a run promises (README): a refused run changes nothing, a resume checks the run's settings, checkpoints
are verified, Ctrl-C saves and says how to go on, a diverging run stops, a full or read-only disk loses
nothing. Each bad input goes through the real command line, in a subprocess, and every file of the workdir is
compared byte for byte before and after."""
import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from helpers import ROOT, python_env, run_module, saved_networks
from train.checkpoint import Checkpointer, CheckpointError
from train.cli import main as train_main

RUN = ["mlp", "--data", "digits", "--batch-size", "64", "--set", "hidden=32,", "--no-progress", "--no-plots"]


def zoo_train(workdir: Path, *flags: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return run_module(["train", *RUN, "--workdir", str(workdir), *flags], timeout=timeout)


def files_of(folder: Path) -> dict[str, str]:
    """{relative path: SHA-256} of every file under `folder` (empty when it does not exist)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_refused(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    for word in words:
        assert word in result.stderr, (word, result.stderr[-3000:])


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A completed 2-epoch run, trained in this process through the command line; tests copy it."""
    workdir = tmp_path_factory.mktemp("finished") / "run"
    assert train_main([*RUN, "--epochs", "2", "--workdir", str(workdir)]) == 0
    return workdir


def copy_of(run: Path, tmp_path: Path) -> Path:
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


def test_a_refused_run_changes_nothing(finished_run, tmp_path):
    workdir = copy_of(finished_run, tmp_path)
    before = files_of(workdir)
    # Without --resume, into a workdir that holds a run, even with other data and settings.
    assert_refused(zoo_train(workdir, "--epochs", "3", "--lr", "0.1"), "already holds checkpoints", "--resume")
    # A resume with other settings: every differing setting is listed, with the flag that allows it.
    refused = zoo_train(workdir, "--resume", "--epochs", "3", "--lr", "0.1", "--batch-size", "32", "--seed", "4",
                        "--set", "hidden=16,")
    assert_refused(refused, "lr: 0.001 -> 0.1", "batch_size: 64 -> 32", "seed: 0 -> 4", "model_overrides",
                   "--allow-changed")
    # A resume that would end before where the run stands.
    assert_refused(zoo_train(workdir, "--resume", "--epochs", "1", "--allow-changed", "epochs"),
                   "already completed 2 epochs")
    assert files_of(workdir) == before


def test_resume_with_allowed_changes_keeps_one_history(finished_run, tmp_path):
    workdir = copy_of(finished_run, tmp_path)
    resumed = zoo_train(workdir, "--resume", "--epochs", "3", "--batch-size", "32",
                        "--allow-changed", "epochs,batch_size")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "after 3 epochs" in resumed.stdout
    summary = json.loads((workdir / "summary.json").read_text())
    assert [r["epoch"] for r in summary["history"]] == [1, 2, 3]
    lines = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3]
    assert summary["config"]["data"]["batch_size"] == 32  # the settings the run now has


def test_resume_into_an_empty_workdir_starts_fresh(tmp_path):
    result = zoo_train(tmp_path / "new", "--resume", "--epochs", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "found no checkpoint" in result.stderr and "starting fresh" in result.stderr


def _flip_bytes(path: Path, count: int = 64) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + count] = bytes(b ^ 0xFF for b in data[middle:middle + count])
    path.write_bytes(bytes(data))


def test_a_damaged_checkpoint_is_refused_naming_the_newest_intact_step(finished_run, tmp_path):
    workdir = copy_of(finished_run, tmp_path)
    first, latest = Checkpointer(workdir / "checkpoints").steps()
    data_files = [p for p in (workdir / "checkpoints" / str(latest) / "state").rglob("*")
                  if p.is_file() and p.parent.name == "d"]
    _flip_bytes(max(data_files, key=lambda p: p.stat().st_size))
    before = files_of(workdir)
    result = zoo_train(workdir, "--resume", "--epochs", "3", "--allow-changed", "epochs")
    assert_refused(result, f"checkpoint step {latest}", "does not match the checksum",
                   f"newest intact checkpoint is step {first}")
    assert "Event loop is closed" not in result.stderr
    assert files_of(workdir) == before


def test_a_damaged_record_is_refused_in_process(finished_run, tmp_path):
    workdir = copy_of(finished_run, tmp_path)
    latest = Checkpointer(workdir / "checkpoints").steps()[-1]
    record = workdir / "checkpoints" / str(latest) / "record" / "metadata"  # the record's JSON
    data = bytearray(record.read_bytes())
    digit = next(i for i in range(len(data) // 2, len(data)) if chr(data[i]).isdigit())
    data[digit] = ord("7" if data[digit] != ord("7") else "3")  # still valid JSON, one figure of the history off
    record.write_bytes(bytes(data))
    checkpointer = Checkpointer(workdir / "checkpoints")
    try:
        with pytest.raises(CheckpointError, match=r"record/metadata does not match the checksum"):
            checkpointer.restore_raw(latest)
    finally:
        checkpointer.close()


def test_divergence_stops_the_run_and_says_no_checkpoint_was_saved(tmp_path):
    result = zoo_train(tmp_path / "run", "--epochs", "3", "--lr", "1e9")
    assert_refused(result, "has run away", "No checkpoint had been saved", "--lr")
    assert not any((tmp_path / "run" / "checkpoints").glob("[0-9]*"))


BAD_NUMBERS = [
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--epochs", "-1"], "--epochs must be at least 1"),
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--batch-size", "-5"], "--batch-size must be at least 1"),
    (["--batch-size", "4096"], "use --batch-size 1293 or less"),
    (["--lr", "0"], "--lr must be above 0"),
    (["--lr", "nan"], "--lr must be a finite number"),
    (["--lr", "inf"], "--lr must be a finite number"),
    (["--validation-fraction", "1"], "--validation-fraction must be at least 0 and below 1"),
    (["--validation-fraction", "-0.1"], "--validation-fraction must be at least 0 and below 1"),
    (["--allow-changed", "learning_rate"], "unknown setting(s) learning_rate"),
]


@pytest.mark.parametrize("flags, words", BAD_NUMBERS[::2], ids=[" ".join(f) for f, _ in BAD_NUMBERS[::2]])
def test_bad_numbers_are_refused_before_anything_is_written(tmp_path, flags, words):
    workdir = tmp_path / "run"
    assert_refused(zoo_train(workdir, *flags), words)
    assert not workdir.exists()  # a failed start leaves no workdir behind


@pytest.mark.parametrize("flags, words", BAD_NUMBERS[1::2], ids=[" ".join(f) for f, _ in BAD_NUMBERS[1::2]])
def test_bad_numbers_are_refused_in_process_too(tmp_path, capsys, flags, words):
    # The other half of the cases, through the same main() without starting an interpreter each.
    assert train_main([*RUN, "--workdir", str(tmp_path / "run"), *flags]) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_batch_that_does_not_split_over_the_devices_is_refused(tmp_path):
    result = run_module(["train", *RUN, "--batch-size", "60", "--workdir", str(tmp_path / "run")], timeout=120,
                        XLA_FLAGS="--xla_force_host_platform_device_count=8")
    assert_refused(result, "does not divide across 8 devices", "56 or 64")
    assert not (tmp_path / "run").exists()


def test_generate_refuses_a_temperature_that_is_not_a_number(tmp_path):
    result = run_module(["train.cli.generate", "char_gru", "--workdir", str(tmp_path), "--temperature", "nan"],
                        timeout=60)
    assert result.returncode == 2 and "--temperature must be a finite number" in result.stderr


def test_a_workdir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "run").write_text("notes")
    assert_refused(zoo_train(tmp_path / "run", "--epochs", "1"), "is a file", "--workdir")
    assert (tmp_path / "run").read_text() == "notes"


def _mount_tmpfs(folder: Path, options: str) -> None:
    """A small or read-only file system of our own (root with CAP_SYS_ADMIN only); skips elsewhere."""
    folder.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a test file system needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")


def _unmount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_read_only_workdir_is_refused(tmp_path):
    target = tmp_path / "read-only"
    if os.geteuid() != 0:
        target.mkdir()
        target.chmod(0o555)
    else:
        _mount_tmpfs(target, "ro,size=1m")
    try:
        assert_refused(zoo_train(target / "run", "--epochs", "1"), "cannot write to", "--workdir")
    finally:
        if os.geteuid() == 0:
            _unmount(target)


def test_a_full_disk_during_a_save_keeps_the_earlier_checkpoints(tmp_path):
    # 10 steps per epoch; each checkpoint of this MLP takes ~110 KB, so the third save finds the disk full.
    disk = tmp_path / "small-disk"
    _mount_tmpfs(disk, "size=320k")
    try:
        result = run_module(["train", "mlp", "--data", "digits", "--set", "hidden=96,", "--epochs", "6",
                             "--no-progress", "--no-plots", "--workdir", str(disk / "run")], timeout=240)
        assert_refused(result, "could not save checkpoint", "no space left on device", "are intact", "--resume")
        assert "Event loop is closed" not in result.stderr
        checkpoints = disk / "run" / "checkpoints"
        assert not list(checkpoints.glob("*tmp*")), "the partial save is cleaned up"
        steps = Checkpointer(checkpoints).steps()
        assert steps and f"at step {', '.join(map(str, steps))} are intact" in result.stderr
        saved_networks(disk / "run")  # the newest kept checkpoint restores and passes its checksums
    finally:
        _unmount(disk)


def test_a_failing_writer_keeps_the_earlier_checkpoints(tmp_path, monkeypatch):
    # The same promise where no file system can be mounted: the third save's writer fails.
    import orbax.checkpoint as ocp

    from conftest import quick
    from train import train_and_evaluate

    real_save, calls = ocp.CheckpointManager.save, []

    def failing_save(self, step, *args, **kwargs):
        calls.append(step)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, step, *args, **kwargs)

    monkeypatch.setattr(ocp.CheckpointManager, "save", failing_save)
    config = quick("mlp", dataset="digits", epochs=4, batch_size=64, model_overrides={"hidden": (32,)})
    with pytest.raises(CheckpointError, match=r"could not save checkpoint step 60 .*no space left on device.*"
                                              r"step 20, 40 are intact"):
        train_and_evaluate(config, tmp_path / "run")
    monkeypatch.undo()
    assert Checkpointer(tmp_path / "run" / "checkpoints").steps() == [20, 40]


def _start(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=ROOT, env=python_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_for_step(checkpoints: Path, at_least: int, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        if any(int(p.name) >= at_least for p in checkpoints.glob("[0-9]*") if p.name.isdigit()):
            return
        time.sleep(0.02)
    raise AssertionError(f"the run ended or stalled before step {at_least}")


CTRL_C_RUN = [sys.executable, "-m", "train", "mlp", "--data", "digits", "--epochs", "3", "--batch-size", "16",
              "--set", "hidden=32,", "--checkpoint-every", "5", "--no-progress", "--no-plots"]


def test_ctrl_c_saves_says_how_to_resume_and_the_resumed_run_is_exact(tmp_path):
    assert train_main([*CTRL_C_RUN[3:], "--workdir", str(tmp_path / "ref")]) == 0  # the unbroken run
    cmd = [*CTRL_C_RUN, "--workdir", str(tmp_path / "run")]
    process = _start(cmd)
    _wait_for_step(tmp_path / "run" / "checkpoints", 30, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr and "saved a checkpoint" in stderr
    resume_command = stderr.strip().splitlines()[-1].strip()
    assert resume_command.startswith("zoo-train mlp") and resume_command.endswith("--resume")
    stopped_at = max(Checkpointer(tmp_path / "run" / "checkpoints").steps())
    assert 30 <= stopped_at < 3 * (1293 // 16)
    resumed = subprocess.run([*cmd, "--resume"], cwd=ROOT, env=python_env(), capture_output=True, text=True,
                             timeout=240)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    ref_networks, ref_record = saved_networks(tmp_path / "ref")
    run_networks, run_record = saved_networks(tmp_path / "run")
    jax.tree.map(np.testing.assert_array_equal, ref_networks, run_networks)
    assert run_record["history"] == ref_record["history"]


def test_a_second_ctrl_c_raises_at_once_and_the_cli_exits_130_without_a_traceback(capsys):
    from train.cli.errors import run_command
    from train.stops import StopRequest

    with StopRequest() as stop:
        stop._handle(signal.SIGINT, None)
        assert stop.requested  # the first asks for a stop at the next step boundary
        with pytest.raises(KeyboardInterrupt):
            stop._handle(signal.SIGINT, None)

    def interrupted():
        raise KeyboardInterrupt

    assert run_command("zoo-train", interrupted) == 130
    assert "interrupted" in capsys.readouterr().err


def test_a_resume_whose_data_gives_another_vocabulary_is_refused(tmp_path):
    from train.workdir import check_same_run_files
    from zoo.errors import SettingError
    from zoo.text.codec import TextCodec

    codec = TextCodec.build(["to be or not to be"], "word")
    (tmp_path / "codec.json").write_text(json.dumps(codec.to_json()), encoding="utf-8")
    check_same_run_files(tmp_path, {"codec.json": codec.to_json()})  # the same vocabulary resumes
    other = TextCodec.build(["to be or not to be, that is the question"], "word")
    with pytest.raises(SettingError, match="another codec.json"):
        check_same_run_files(tmp_path, {"codec.json": other.to_json()})

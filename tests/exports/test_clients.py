"""The clients a pipeline reads a dataset version with, against a live gunicorn serving the test
database, each as the README shows it, with a project token (`datasets:read`): pandas over
HTTP, pyarrow through fsspec's HTTP filesystem (HEAD, then ranges), polars, Hugging Face
`datasets.load_dataset("parquet", ...)`, and examples/pull_latest.py run twice (the second time
a 304, nothing downloaded), then again after a new version.

alice leads `project`; the versions are made directly with their files (factories.py).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.conf import settings

from projects.models import TokenScope
from projects.services.tokens import project_token_create
from tests.exports.factories import make_version, row

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(settings.BASE_DIR)
ROWS = [row("a", "positive"), row("b", "negative"), row("c", "neutral", "test")]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The media root of this module's tests and of the server they start (a version's files are
    named by ids that repeat across test databases)."""
    return tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _storage_of_this_test(settings: Any, media_root: Path, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = media_root
    settings.ACCORD_DATASET_BUILD_DIR = tmp_path / "builds"


@pytest.fixture(scope="module")
def server(
    django_db_setup: Any, django_db_blocker: Any, media_root: Path
) -> Iterator[dict[str, Any]]:
    """gunicorn on the test database and media, as `make run` serves Accord (sync workers, so
    that whole files go out with sendfile), with its access log kept to see what each client
    asked for."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        database_url = f"sqlite:///{db['NAME']}"
    else:
        database_url = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    port = _free_port()
    access_log = Path(settings.VAR_DIR) / f"test-gunicorn-access-{settings.TEST_RUN}.log"
    access_log.write_text("")
    log = open(Path(settings.VAR_DIR) / f"test-gunicorn-{settings.TEST_RUN}.log", "w")  # noqa: SIM115
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url, "CONN_MAX_AGE": "0", "ACCORD_TEST_RUN": settings.TEST_RUN,
        "ACCORD_TEST_MEDIA_ROOT": str(media_root),
    }  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", "3", "--worker-class", "sync", "--timeout", "60",
         "--access-logfile", str(access_log),
         "--access-logformat", '%(m)s %(U)s %(s)s %(B)s "%({range}i)s"'],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, "gunicorn exited; see var/test-gunicorn-*.log"
        try:
            urllib.request.urlopen(f"{url}/api/v1/me/", timeout=2)
        except urllib.error.HTTPError as error:
            if error.code == 401:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "gunicorn did not answer within 60 s"
        time.sleep(0.2)
    try:
        yield {"url": url, "access_log": access_log}
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture
def pipeline(server, project, alice) -> dict[str, Any]:
    version = make_version(project, ROWS, created_by=alice)
    _, secret = project_token_create(
        project=project, created_by=alice, name="training", scopes=[TokenScope.DATASETS_READ]
    )
    base = f"{server['url']}/api/v1/projects/{project.pk}/datasets/versions"
    server["access_log"].write_text("")
    return {
        "url": f"{base}/latest/files/data.parquet",
        "headers": {"Authorization": f"Token {secret}"},
        "secret": secret,
        "version": version,
        "server": server,
    }


def requests_seen(server: dict[str, Any]) -> list[str]:
    return server["access_log"].read_text().splitlines()


def test_pandas_reads_the_latest_version_over_http(pipeline):
    import pandas as pd

    frame = pd.read_parquet(pipeline["url"], storage_options=pipeline["headers"])
    assert frame["item_key"].tolist() == ["a", "b", "c"]
    assert frame["label"].tolist() == ["positive", "negative", "neutral"]
    assert frame["row_hash"].tolist() == [r["row_hash"] for r in ROWS]


def test_pyarrow_reads_it_through_fsspecs_http_filesystem_with_ranges(pipeline):
    import fsspec

    filesystem = fsspec.filesystem("http", headers=pipeline["headers"])
    table = pq.read_table(pipeline["url"], filesystem=filesystem, columns=["item_key", "split"])
    assert table.to_pylist() == [
        {"item_key": "a", "split": "train"},
        {"item_key": "b", "split": "train"},
        {"item_key": "c", "split": "test"},
    ]
    with filesystem.open(pipeline["url"], "rb", block_size=64) as handle:
        handle.seek(-4, 2)
        assert handle.read(4) == b"PAR1"  # a range of the last bytes, as Parquet readers ask
    seen = requests_seen(pipeline["server"])
    assert any(line.startswith("HEAD ") and " 200 " in line for line in seen), seen
    assert any(line.startswith("GET ") and " 206 " in line and '"bytes=' in line for line in seen)


def test_polars_reads_it_from_fsspecs_file_as_it_sends_no_header_itself(pipeline):
    """polars reads http(s) URLs natively, and its storage_options configure cloud stores
    (S3, GCS, Azure, the Hugging Face Hub), with no key for a request header: the token goes
    unsent, and the server answers 401 (with use_pyarrow=True it opens the URL with urllib,
    without headers too). So polars reads the file fsspec opens with the token, with ranges."""
    import fsspec
    import polars as pl

    with pytest.raises(PermissionError, match="401"):
        pl.read_parquet(pipeline["url"], storage_options=pipeline["headers"])

    filesystem = fsspec.filesystem("http", headers=pipeline["headers"])
    with filesystem.open(pipeline["url"], "rb") as handle:
        frame = pl.read_parquet(handle)
    assert frame["item_key"].to_list() == ["a", "b", "c"]
    assert frame["split"].to_list() == ["train", "train", "test"]


def test_hugging_face_datasets_loads_it(pipeline, tmp_path, monkeypatch):
    import datasets

    # No Hugging Face Hub here: the parquet builder ships with the package, and the file comes
    # from the URL alone.
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    loaded = datasets.load_dataset(
        "parquet", data_files={"train": pipeline["url"]}, cache_dir=str(tmp_path / "cache"),
        storage_options={"headers": pipeline["headers"]},
    )  # fmt: skip
    assert loaded["train"]["item_key"] == ["a", "b", "c"]
    assert loaded["train"]["label"] == ["positive", "negative", "neutral"]


def test_the_example_script_downloads_only_when_the_etag_changed(
    pipeline, project, alice, tmp_path
):
    def pull() -> str:
        done = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "pull_latest.py"), pipeline["server"]["url"],
             str(project.pk), str(tmp_path)],
            env={**os.environ, "ACCORD_TOKEN": pipeline["secret"]},
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return done.stdout.strip()

    first = pull()
    sha256 = pipeline["version"].files.get(name="data.parquet").sha256
    assert first.startswith("data.parquet downloaded: v1, ") and sha256[:12] in first
    assert (tmp_path / "data.parquet.etag").read_text().strip() == f'"{sha256}"'
    written = (tmp_path / "data.parquet").stat().st_mtime_ns

    second = pull()
    assert second == f"data.parquet is up to date (v1, sha256 {sha256[:12]}): not downloaded."
    assert (tmp_path / "data.parquet").stat().st_mtime_ns == written
    seen = requests_seen(pipeline["server"])
    downloads = [line for line in seen if "/files/data.parquet" in line]
    assert [line.split()[2] for line in downloads] == ["200", "304"]

    make_version(project, [*ROWS, row("d", "positive")], created_by=alice)
    third = pull()
    assert third.startswith("data.parquet downloaded: v2, ")
    assert pq.read_table(tmp_path / "data.parquet")["item_key"].to_pylist() == ["a", "b", "c", "d"]

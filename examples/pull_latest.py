#!/usr/bin/env python3
"""Keep a local copy of a project's latest dataset version, downloading only what changed.

    ACCORD_TOKEN=acp_... python examples/pull_latest.py http://127.0.0.1:8000 3 ./data

reads the manifest of the project's latest ready version, then asks for its `data.parquet`
with `If-None-Match` naming the ETag saved beside the local copy (`data.parquet.etag`): the
server answers 304 when the file is the same (nothing is downloaded), or the new file, which is
written to a temporary file, checked against the sha256 the manifest lists, and only then put in
place with its new ETag. It prints what it did, one line, and exits non-zero on any failure.

Standard library only; a project token with the scope `datasets:read` is enough.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

CHUNK = 1024 * 1024


def request(url: str, token: str, headers: dict[str, str] | None = None) -> Any:
    """urlopen with the token; a 304 comes back as an HTTPError, which the caller handles."""
    sent = {"Authorization": f"Token {token}", **(headers or {})}
    return urllib.request.urlopen(urllib.request.Request(url, headers=sent), timeout=60)


def pull(server: str, project: int, folder: Path, token: str, name: str = "data.parquet") -> str:
    """Bring `folder/name` up to date with the latest version; returns what was done."""
    base = f"{server.rstrip('/')}/api/v1/projects/{project}/datasets/versions/latest"
    with request(f"{base}/manifest/", token) as response:
        manifest = json.load(response)
    label = manifest["version"]["label"]
    listed = {entry["name"]: entry for entry in manifest["files"]}
    if name not in listed:
        raise SystemExit(f"{label} has no file {name}.")
    expected = listed[name]["sha256"]

    folder.mkdir(parents=True, exist_ok=True)
    target, etag_file = folder / name, folder / f"{name}.etag"
    headers = {}
    if target.exists() and etag_file.exists():
        headers["If-None-Match"] = etag_file.read_text().strip()
    # Ask by id: the manifest's version, even if a newer one becomes latest meanwhile.
    url = f"{server.rstrip('/')}/api/v1/projects/{project}/datasets/versions/"
    url += f"{manifest['version']['id']}/files/{name}"
    try:
        response = request(url, token, headers)
    except urllib.error.HTTPError as error:
        if error.code == 304:
            return f"{name} is up to date ({label}, sha256 {expected[:12]}): not downloaded."
        raise

    digest, size = hashlib.sha256(), 0
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
    try:
        with response, os.fdopen(handle, "wb") as out:
            etag = response.headers["ETag"]
            while chunk := response.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        if digest.hexdigest() != expected:
            raise SystemExit(
                f"{name} of {label}: sha256 {digest.hexdigest()} is not the manifest's {expected}; "
                "the download is discarded."
            )
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    etag_file.write_text(etag + "\n")
    return f"{name} downloaded: {label}, {size} bytes, sha256 {expected[:12]} verified."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("server", help="e.g. http://127.0.0.1:8000")
    parser.add_argument("project", type=int, help="the project's id")
    parser.add_argument("folder", type=Path, help="where the copy and its ETag are kept")
    parser.add_argument("--file", default="data.parquet", help="a file of the version")
    arguments = parser.parse_args()
    token = os.environ.get("ACCORD_TOKEN")
    if not token:
        sys.exit("Set ACCORD_TOKEN to a project token with datasets:read.")
    print(pull(arguments.server, arguments.project, arguments.folder, token, arguments.file))


if __name__ == "__main__":
    main()

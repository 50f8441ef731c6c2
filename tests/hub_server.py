"""A local stand-in for the Hugging Face hub, served on loopback behind HF_ENDPOINT.

It answers the calls huggingface_hub and datasets make for a hub id (repository info at a
revision, the file tree, file metadata and downloads with ranges) from local folders,
``<root>/models/<repo id>/`` and ``<root>/datasets/<repo id>/``, each repository at one fixed
commit (a hash of its id), and writes every request to ``<root>/access.log`` (method, path and
user agent), which the tests read to prove which jobs opened the hub.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

NOW = datetime(2026, 1, 1, tzinfo=UTC).isoformat().replace("+00:00", ".000Z")


def commit_of(repo_id: str) -> str:
    return hashlib.sha1(repo_id.encode()).hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


class Hub:
    """The repositories under ``root`` and the server that serves them."""

    def __init__(self, root: Path, aliases: dict | None = None):
        self.root = Path(root)
        self.aliases = aliases or {}  # renamed repositories: old id -> current id
        self.log = self.root / "access.log"
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def requests(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def repo(self, kind: str, repo_id: str) -> Path | None:
        folder = self.root / kind / self.aliases.get(repo_id, repo_id)
        return folder if folder.is_dir() else None

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet: the access log is ours
                pass

            def _record(self):
                entry = {"method": self.command, "path": self.path, "agent": self.headers.get("User-Agent", "")}
                with hub.lock, hub.log.open("a") as out:
                    out.write(json.dumps(entry) + "\n")

            def _json(self, obj, status=200, error_code="RepoNotFound"):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if status == 404:
                    self.send_header("X-Error-Code", error_code)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _not_found(self):
                self._json({"error": f"not found: {self.path}"}, 404)

            def do_HEAD(self):
                self._serve()

            def do_GET(self):
                self._serve()

            def do_POST(self):
                self._serve()

            def _serve(self):
                self._record()
                path = unquote(urlparse(self.path).path)
                api = re.fullmatch(r"/api/(models|datasets)/(.+?)/(revision|tree|paths-info)/([^/]+)(/.*)?", path)
                if api:
                    return self._api(*api.groups())
                info = re.fullmatch(r"/api/(models|datasets)/([^/]+(?:/[^/]+)?)", path)
                if info:  # the repository at its default branch
                    return self._api(*info.groups(), "revision", "main", None)
                resolve = re.fullmatch(r"/(?:(datasets)/)?(.+?)/resolve/([^/]+)/(.+)", path)
                if resolve:
                    kind, repo_id, revision, name = resolve.groups()
                    if repo_id in hub.aliases:  # as the hub does for a renamed repository
                        self.send_response(307)
                        prefix = "/datasets" if kind else ""
                        self.send_header("Location", f"{prefix}/{hub.aliases[repo_id]}/resolve/{revision}/{name}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    return self._file(kind or "models", repo_id, name)
                return self._not_found()

            def _entry(self, folder: Path, p: Path) -> dict:
                data = p.read_bytes()
                return {
                    "type": "file",
                    "oid": hashlib.sha1(data).hexdigest(),
                    "size": len(data),
                    "path": p.relative_to(folder).as_posix(),
                }

            def _api(self, kind, repo_id, what, revision, sub):
                folder = hub.repo(kind, repo_id)
                if folder is None:
                    return self._not_found()
                repo_id = hub.aliases.get(repo_id, repo_id)
                sha = commit_of(repo_id)
                if what == "revision":
                    files = [{"rfilename": p.relative_to(folder).as_posix()} for p in _files(folder)]
                    return self._json(
                        {
                            "id": repo_id,
                            "_id": sha[:24],
                            "sha": sha,
                            "private": False,
                            "disabled": False,
                            "gated": False,
                            "downloads": 0,
                            "likes": 0,
                            "tags": [],
                            "lastModified": NOW,
                            "createdAt": NOW,
                            "siblings": files,
                            "cardData": {},
                        }
                    )
                if what == "paths-info":
                    length = int(self.headers.get("Content-Length") or 0)
                    form = self.rfile.read(length).decode()
                    wanted = [unquote(v) for k, v in re.findall(r"(paths(?:%5B%5D|\[\])?)=([^&]*)", form)]
                    out = []
                    for name in wanted:
                        p = folder / name
                        if p.is_file():
                            out.append(self._entry(folder, p))
                        elif p.is_dir():
                            out.append({"type": "directory", "oid": sha, "size": 0, "path": name})
                    return self._json(out)
                base = folder / (sub or "/").lstrip("/")
                if not base.is_dir():  # the repository exists, the path in it does not (as the hub answers)
                    return self._json({"error": f"not found: {self.path}"}, 404, "EntryNotFound")
                recursive = "recursive=true" in self.path.lower() or "recursive=1" in self.path
                children = sorted(base.rglob("*") if recursive else base.iterdir())
                out = []
                for p in children:
                    if p.is_dir():
                        out.append(
                            {"type": "directory", "oid": sha, "size": 0, "path": p.relative_to(folder).as_posix()}
                        )
                    else:
                        out.append(self._entry(folder, p))
                return self._json(out)

            def _file(self, kind, repo_id, name):
                folder = hub.repo(kind, repo_id)
                p = folder / name if folder else None
                if p is None or not p.is_file():
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("X-Repo-Commit", commit_of(repo_id) if folder else "")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = p.read_bytes()
                start, end = 0, len(data) - 1
                status = 200
                ranged = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
                if ranged:
                    status = 206
                    first, last = ranged.groups()
                    if first == "":
                        start = max(0, len(data) - int(last))
                    else:
                        start, end = int(first), min(int(last) if last else end, end)
                body = data[start : end + 1]
                self.send_response(status)
                self.send_header("X-Repo-Commit", commit_of(repo_id))
                self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(body)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

        return Handler

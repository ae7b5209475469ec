"""Upload latency and memory: the API against a direct boto3 put, in one run, same S3 server.

Starts the embedded stack and one gunicorn worker (as `manage.py up` runs it), registers a
user, then times multipart uploads of fresh random text (so dedup never skips a write)
against `put_object` of bytes of the same size. The web worker's peak memory growth during
the 10 MB uploads comes from its VmHWM, reset before the run.

    .venv/bin/python bench/upload.py [--rounds-small 30] [--rounds-large 40]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import requests
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import median_ms, write_section  # noqa: E402
from mediaportal.embedded import EmbeddedStack, port_is_free  # noqa: E402

SIZES = {"100 KB": 100 * 1000, "10 MB": 10 * 1000 * 1000}


def fresh_bytes(size: int) -> bytes:
    """Random text of `size` bytes: never deduplicated, and a type the upload accepts."""
    return os.urandom(size // 2).hex().encode()


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds-small", type=int, default=30)
    parser.add_argument("--rounds-large", type=int, default=40)
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="mp-bench-"))
    stack = EmbeddedStack(var_dir=var_dir, log=print)
    web = None
    try:
        print("starting the embedded stack ...")
        env = {**os.environ, **stack.start(), "MEDIAPORTAL_VAR_DIR": str(var_dir)}
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        port = next(p for p in range(18500, 18600) if port_is_free(p))
        web = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "mediaportal.wsgi:application",
                f"--bind=127.0.0.1:{port}",
                "--workers=1",
                "--worker-class=gthread",
                "--threads=4",
                "--no-control-socket",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if requests.get(base + "/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        import psutil

        worker = psutil.Process(web.pid).children()[0].pid
        reg = requests.post(
            base + "/api/v1/auth/register/",
            json={"username": "bench", "email": "bench@example.com", "password": "bench password 123"},
            timeout=10,
        ).json()
        session = requests.Session()
        session.headers["Authorization"] = f"Token {reg['token']}"
        upload_url = f"{base}/api/v1/tenants/{reg['tenant']['slug']}/files/"

        os.environ.update(env)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaportal.settings")
        import django

        django.setup()
        from django.core.files.storage import storages

        primary = storages["primary"]
        bucket = primary.bucket_name
        # The reference: boto3 as it comes, signing each PUT with its body's SHA-256 (so it
        # reads the body to hash it), against the same server, bucket and credentials.
        s3 = boto3.client(
            "s3",
            endpoint_url=primary.endpoint_url,
            region_name=primary.region_name,
            aws_access_key_id=primary.access_key,
            aws_secret_access_key=primary.secret_key,
            config=Config(
                s3={"addressing_style": "path"},
                signature_version="s3v4",
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

        def api_upload(data: bytes, n: int) -> float:
            prepared = session.prepare_request(
                requests.Request("POST", upload_url, files={"file": (f"bench-{n}.bin", data)})
            )
            started = time.perf_counter()
            response = session.send(prepared, timeout=120)
            elapsed = time.perf_counter() - started
            assert response.status_code == 201, response.text
            return elapsed

        def direct_put(data: bytes, n: int) -> float:
            started = time.perf_counter()
            s3.put_object(Bucket=bucket, Key=f"bench/direct-{n}", Body=data, ContentType="application/octet-stream")
            return time.perf_counter() - started

        # Warm both paths (imports, connection pools) before measuring.
        for n in range(3):
            api_upload(fresh_bytes(1000), 10_000 + n)
            direct_put(fresh_bytes(1000), 10_000 + n)

        rows, results = [], {}
        counter = 0
        for label, size in SIZES.items():
            rounds = args.rounds_small if size < 1_000_000 else args.rounds_large
            if size >= 1_000_000:
                rss_before = _status(worker, "VmRSS")
                peak_reset = _reset_peak(worker)
            api, direct = [], []
            for n in range(rounds):
                counter += 1
                # Alternate which goes first: what one leaves behind (the S3 server settling
                # after a write, a collection in the web worker) then falls on both alike.
                api_data, direct_data = fresh_bytes(size), fresh_bytes(size)
                if n % 2:
                    direct.append(direct_put(direct_data, counter))
                    api.append(api_upload(api_data, counter))
                else:
                    api.append(api_upload(api_data, counter))
                    direct.append(direct_put(direct_data, counter))
            results[label] = (median_ms(api), median_ms(direct))
            if size >= 1_000_000:
                peak = _status(worker, "VmHWM") if peak_reset else max(_status(worker, "VmHWM"), rss_before)
                growth_mb = (peak - rss_before) / 1e6
            # Each upload against the direct put made right beside it: a stretch of the run
            # where the S3 server is slow for both then cancels out instead of moving one median.
            paired = statistics.median(a / d for a, d in zip(api, direct, strict=True))
            rows.append(
                f"| {label} | {rounds} | {median_ms(api):.1f} | {median_ms(direct):.1f} | "
                f"{median_ms(api) / median_ms(direct):.2f}× | {paired:.2f}× |"
            )
        table = "\n".join(
            [
                "## Upload: API vs direct S3 put",
                "",
                "`bench/upload.py`: multipart `POST …/files/` to one gunicorn gthread worker, against",
                "`put_object` of the same number of fresh random bytes (text, so the type check accepts it) to the same embedded SeaweedFS.",
                "The direct put is boto3 as it comes (it reads the body to hash it for the signature); the API's",
                "PUT, through the `primary` storage, sends the SHA-256 computed while receiving as its checksum.",
                "Target: API ≤ 1.5× the direct put for 10 MB; web worker memory growth < 15 MB.",
                "",
                "*Per round* is the median, over the rounds, of each API upload's time divided by that of the",
                "direct put made right before or after it; *of medians* divides the two medians. They differ when",
                "the machine slows down for a stretch of the run (both times grow, and the medians move apart).",
                "",
                "| size | rounds | API median (ms) | direct put median (ms) | ratio of medians | ratio per round |",
                "|---|---|---|---|---|---|",
                *rows,
                "",
                f"Web worker peak memory growth during the 10 MB uploads: **{growth_mb:.1f} MB** "
                f"(VmHWM after minus VmRSS before{'' if peak_reset else '; peak could not be reset'}).",
                "",
                # Other work on the machine slows the API (CPU work in the worker on top of the
                # S3 server's) more than the direct put: the load says how quiet the run was.
                f"Load average at the end of the run: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores.",
            ]
        )
        print()
        print(table)
        write_section("upload", table)
        print("\nwritten to docs/benchmarks.md")
    finally:
        if web is not None:
            web.terminate()
            web.wait(10)
        stack.stop()
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Start and stop the whole local stack in this process.

Order matters: moto first (it sets AWS_ENDPOINT_URL), *then* chalicelib models and the app are
imported so that their clients point at moto.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path

from aws_lambda_powertools import Logger

from chalicelib.local import moto_server

logger = Logger(service="opsgrat-local")


class LocalStack:
    def __init__(self, home: Path, port: int, host: str = "127.0.0.1"):
        self.home = home
        self.port = port
        self.host = host
        self.pollers: list = []
        self._http = None
        self._http_thread: threading.Thread | None = None
        self._moto = None
        self.snapshotter = None
        self.admin_token: str | None = None
        self.runners = None
        self.ticker = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs every request otherwise
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)  # the token file, the snapshot and the KMS material are the stack's alone
        os.environ["OPSGRAT_HOME"] = str(self.home)
        self._moto, endpoint = moto_server.start()
        from chalicelib.local import runners as local_runners

        self.runners = local_runners.install(self.home)
        # local runners start in well under a second, but 50 jobs on two cores slow everything down
        os.environ.setdefault("OPSGRAT_HEARTBEAT_SECONDS", "60")
        os.environ["OPSGRAT_API_URL"] = self.url

        from chalicelib import aws
        from chalicelib.local import snapshot
        from chalicelib.local.provision import provision

        aws.reset()
        provision()
        restored = snapshot.restore(self.home)
        self.snapshotter = snapshot.Snapshotter(self.home)  # persists the writes from here on
        from chalicelib.services import job_stats, jobs, search

        if not restored:
            search.mark_fresh()  # a first start: every record is written with its grams
        self._bootstrap_data()
        job_stats.backfill()  # once per stack (a marker): jobs that finished before the dashboard's figures
        search.reindex_missing()  # once per family (a marker): records stored before the search index

        orphans = jobs.fail_unfinished("the local stack stopped while this job was unfinished; its runner did not "
                                       "survive the stop")
        self.snapshotter.flush()  # the first flush writes a fresh base: the journal starts empty
        self.snapshotter.start()
        self._start_pollers()
        from chalicelib.local.ticker import Ticker

        self.ticker = Ticker()  # after the pollers: what it sends is handled at once
        self.ticker.start()
        self._start_http()
        # where `opsgrat` finds this stack when run in its checkout (with admin-token beside it)
        (self.home / "url").write_text(self.url + "\n")
        logger.info("local stack started", extra={"url": self.url, "moto": endpoint, "restored": restored,
                                                   "home": str(self.home), "jobs_failed_at_start": orphans})

    def _bootstrap_data(self) -> None:
        from chalicelib.services import auth
        from chalicelib.services.catalog import system

        system.seed()
        token_file = self.home / "admin-token"
        user, token = auth.ensure_superuser("admin")
        if token is None and not token_file.exists():
            token = auth.issue_token(user)
        if token is not None:
            token_file.write_text(token + "\n")
            token_file.chmod(0o600)
        self.admin_token = token_file.read_text().strip()

    def _start_pollers(self) -> None:
        import app as app_module
        from chalicelib.local.pollers import Poller
        from chalicelib.stack import STACK

        for queue in STACK.queues:
            handler = getattr(app_module, queue.handler, None)
            if handler is None:
                continue
            for worker in range(queue.local_workers):
                poller = Poller(queue, handler, name=f"poller-{queue.short}-{worker}")
                poller.start()
                self.pollers.append(poller)

    def _start_http(self) -> None:
        from chalice.config import Config

        import app as app_module
        from chalicelib.local import httpd

        config = Config.create(chalice_app=app_module.app, app_name="opsgrat", lambda_timeout=900)
        self._http = httpd.create(app_module.app, config, self.host, self.port)
        self._http_thread = threading.Thread(target=self._http.server.serve_forever, name="http", daemon=True)
        self._http_thread.start()

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server.server_close()
        if self.ticker is not None:
            self.ticker.stop()
            self.ticker.join(timeout=10)
        for poller in self.pollers:
            poller.stop()
        if self.runners is not None:
            self.runners.stop_all()
        for poller in self.pollers:
            poller.join(timeout=10)
        if self.snapshotter is not None:
            self.snapshotter.stop()
        if self._moto is not None:
            self._moto.stop()
        logger.info("local stack stopped")


def serve_forever(stack: LocalStack) -> None:
    """Run until SIGINT/SIGTERM, then stop cleanly (final snapshot included)."""
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    stack.start()
    print(f"OpsGrat Serverless is running on {stack.url}/api/  (Ctrl-C stops it)", flush=True)
    print(f"Web console: {stack.url}/", flush=True)
    print(f"Admin token (also in {stack.home / 'admin-token'}): {stack.admin_token}", flush=True)
    done.wait()
    print("Stopping...", flush=True)
    stack.stop()

"""A real Neo4j 5.26 LTS Community server for ekjon, run from ``$EKJON_HOME/neo4j/``.

``ekjon neo4j start|stop|status`` call these functions. On first use :func:`start` builds a small
Java launcher (``graph/neo4j/server/launcher``, Maven) that pulls Neo4j from Maven Central, then
runs it
as a detached JVM listening on 127.0.0.1 only, with authentication on and user ``neo4j`` given a
random password (kept in ``credentials.json``, mode 0600). Data stays in ``$EKJON_HOME/neo4j/data``
across stops and starts.

Layout under ``$EKJON_HOME/neo4j/``::

    credentials.json    bolt URI, user, password, database (0600)
    neo4j.pid           pid of the running JVM
    data/               the databases (durable)
    logs/neo4j.log      the launcher's and Neo4j's user log; Neo4j's debug.log etc. beside it
    conf/neo4j.conf     optional extra Neo4j settings, read at start if present

Users with their own Neo4j point ekjon at it with ``EKJON_NEO4J_URI`` and friends instead (see
docs/neo4j.md); nothing here is needed then. Imports neither ``engine`` nor ``api``.

Example
-------
>>> from pathlib import Path
>>> info = start(Path(".ekjon"), bolt_port=7687)  # doctest: +SKIP
>>> uri, user, password = credentials(Path(".ekjon"))  # doctest: +SKIP
>>> stop(Path(".ekjon"))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ekjon.errors import EkjonError

log = logging.getLogger(__name__)

NEO4J_VERSION = "5.26.30"
"""The Neo4j release the launcher is built against (``neo4j.version`` in launcher/pom.xml)."""

DEFAULT_BOLT_PORT = 7687
DEFAULT_HTTP_PORT = 7474
DEFAULT_HEAP = "4g"
DEFAULT_PAGECACHE = "2g"
DEFAULT_USER = "neo4j"
DEFAULT_DATABASE = "neo4j"
LOOPBACK = "127.0.0.1"
FIRST_BUILD_DOWNLOAD = "about 190 MB"
"""What a first build with an empty ~/.m2 fetches from Maven Central (measured: 190 MB, ~50 s)."""

LAUNCHER_DIR = Path(__file__).resolve().parent / "launcher"
LAUNCHER_JAR = LAUNCHER_DIR / "target" / "ekjon-neo4j-launcher.jar"
_BUILD_STAMP = LAUNCHER_DIR / "target" / "ekjon-build.stamp"
_LAUNCHER_MARK = "ekjon-neo4j-launcher"
_PASSWORD_ENV = "EKJON_NEO4J_INITIAL_PASSWORD"
_MEMORY_SIZE = re.compile(r"^[1-9][0-9]*[kKmMgG]?$")
_JVM_OPTIONS = [
    "-XX:+UseG1GC",
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:-OmitStackTraceInFastThrow",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    # The module openings Neo4j's own start script passes on Java 17.
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
]


class Neo4jServerError(EkjonError, RuntimeError):
    """The Neo4j server could not be built, started, stopped or reached."""


class PortInUse(Neo4jServerError):
    """A port the server needs is already taken on 127.0.0.1."""


@dataclass(frozen=True)
class ServerInfo:
    """A running ekjon Neo4j server: where it listens and where its files are."""

    pid: int
    uri: str
    user: str
    http_uri: str | None
    database: str
    home: Path
    data_dir: Path
    log_file: Path
    credentials_file: Path
    version: str = NEO4J_VERSION

    @property
    def browser_uri(self) -> str | None:
        """Neo4j Browser, served by the HTTP connector (None when HTTP is off)."""
        return f"{self.http_uri}/browser/" if self.http_uri else None


@dataclass(frozen=True)
class _Paths:
    home: Path

    @classmethod
    def of(cls, ekjon_home: Path) -> _Paths:
        return cls(Path(ekjon_home).resolve() / "neo4j")

    @property
    def credentials(self) -> Path:
        return self.home / "credentials.json"

    @property
    def pid(self) -> Path:
        return self.home / "neo4j.pid"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def log_file(self) -> Path:
        return self.logs / "neo4j.log"

    @property
    def lock(self) -> Path:
        return self.home / ".lock"


# --- public API -----------------------------------------------------------------------------------


def start(
    home: Path,
    bolt_port: int = DEFAULT_BOLT_PORT,
    heap: str = DEFAULT_HEAP,
    timeout: float = 180,
    *,
    http_port: int = DEFAULT_HTTP_PORT,
    pagecache: str = DEFAULT_PAGECACHE,
    on_progress: Callable[[str], None] | None = None,
) -> ServerInfo:
    """Start the Neo4j server for ``home`` (``$EKJON_HOME``), or return it if already running.

    Builds the launcher on first use, launches a detached JVM, and returns once a driver session
    with the stored password succeeds.

    Parameters
    ----------
    home : Path
        The ekjon home; the server lives in ``home / "neo4j"``.
    bolt_port, http_port : int
        Ports on 127.0.0.1. ``http_port=0`` turns the HTTP connector (and Neo4j Browser) off.
    heap, pagecache : str
        JVM heap (``-Xmx``) and Neo4j page cache, e.g. ``"4g"``, ``"512m"``.
    timeout : float
        Seconds to wait, once the JVM runs, for Bolt (and HTTP, if on) to answer.
    on_progress : callable, optional
        Called with each line of Maven output during a first build (for a progress display).

    Returns
    -------
    ServerInfo

    Raises
    ------
    PortInUse
        If ``bolt_port`` or ``http_port`` is taken on 127.0.0.1.
    Neo4jServerError
        If Java or Maven is missing, the build fails, or Neo4j does not come up in time (the
        message names the log file to read).
    """
    _check_memory_size("heap", heap)
    _check_memory_size("pagecache", pagecache)
    _check_port("bolt_port", bolt_port, allow_zero=False)
    _check_port("http_port", http_port, allow_zero=True)
    if bolt_port == http_port:
        raise ValueError(
            f"The 'bolt_port' and 'http_port' parameters of start must differ. Got {bolt_port} "
            "for both."
        )
    paths = _Paths.of(home)
    paths.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _locked(paths.lock):
        running = _running_pid(paths)
        if running is not None:
            log.info("Neo4j is already running (pid %d)", running)
            return _info(paths, running)

        _ensure_port_free(bolt_port, "Bolt", "--bolt-port / EKJON_NEO4J_BOLT_PORT")
        if http_port:
            _ensure_port_free(http_port, "HTTP", "--http-port / EKJON_NEO4J_HTTP_PORT (0 = off)")
        java = _find_java()
        jar = build_launcher(on_progress=on_progress)

        creds = _load_or_create_credentials(paths, bolt_port, http_port, heap, pagecache)
        # A password is applied on the first start, and again whenever the system database is
        # new (data deleted) or an earlier first start did not get as far as confirming it.
        apply_password = not creds.get("password_applied") or not _system_db_exists(paths)

        paths.logs.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k != _PASSWORD_ENV}
        if apply_password:
            env[_PASSWORD_ENV] = creds["password"]
        command = [
            java,
            f"-Xmx{heap}",
            *_JVM_OPTIONS,
            "-jar",
            str(jar),
            f"--home={paths.home}",
            f"--bolt-port={bolt_port}",
            f"--http-port={http_port}",
            f"--pagecache={pagecache}",
        ]
        with open(paths.log_file, "ab") as log_stream:
            log_stream.write(
                f"\n=== ekjon neo4j start {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode()
            )
            log_stream.flush()
            process = subprocess.Popen(
                command,
                cwd=paths.home,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_stream,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _write_private(paths.pid, f"{process.pid}\n")
        log.info("Started Neo4j JVM (pid %d); waiting for %s", process.pid, creds["uri"])

        try:
            _wait_until_ready(process, creds, paths, timeout)
        except BaseException:
            _terminate(process.pid, grace=30)
            paths.pid.unlink(missing_ok=True)
            raise
        if apply_password:
            creds["password_applied"] = True
            _write_private(paths.credentials, json.dumps(creds, indent=2) + "\n")
        return _info(paths, process.pid)


def stop(home: Path, timeout: float = 60) -> None:
    """Stop the server for ``home`` gracefully: SIGTERM, wait, SIGKILL after ``timeout`` seconds.

    Does nothing if no server is running. Data is flushed by Neo4j's own shutdown on SIGTERM.

    Raises
    ------
    Neo4jServerError
        If the process survives even SIGKILL.
    """
    paths = _Paths.of(home)
    if not paths.home.exists():
        return
    with _locked(paths.lock):
        pid = _running_pid(paths)
        if pid is None:
            paths.pid.unlink(missing_ok=True)
            log.info("Neo4j is not running")
            return
        log.info("Stopping Neo4j (pid %d)", pid)
        _terminate(pid, grace=timeout)
        paths.pid.unlink(missing_ok=True)


def status(home: Path) -> ServerInfo | None:
    """The running server for ``home``, or None when none is running."""
    paths = _Paths.of(home)
    pid = _running_pid(paths)
    if pid is None:
        return None
    return _info(paths, pid)


def credentials(home: Path) -> tuple[str, str, str]:
    """``(uri, user, password)`` of the ekjon server for ``home``.

    Raises
    ------
    Neo4jServerError
        If the server was never started for this home (no credentials file).
    """
    creds = _read_credentials(_Paths.of(home))
    return creds["uri"], creds["user"], creds["password"]


def build_launcher(on_progress: Callable[[str], None] | None = None) -> Path:
    """Build the launcher jar with Maven unless an up-to-date build exists; return the jar's path.

    The first build downloads Neo4j and its dependencies from Maven Central into ``~/.m2``
    (:data:`FIRST_BUILD_DOWNLOAD`); later builds are offline and take seconds.

    Raises
    ------
    Neo4jServerError
        If Maven is missing or the build fails (the message names the build log).
    """
    target = LAUNCHER_DIR / "target"
    target.mkdir(exist_ok=True)
    with _locked(target / ".build.lock"):
        fingerprint = _sources_fingerprint()
        if (
            LAUNCHER_JAR.exists()
            and _BUILD_STAMP.exists()
            and _BUILD_STAMP.read_text().strip() == fingerprint
        ):
            return LAUNCHER_JAR
        mvn = shutil.which("mvn")
        if mvn is None:
            raise Neo4jServerError(
                "Maven (mvn) is not on PATH; it builds ekjon's Neo4j launcher on first use. "
                "Install Maven 3.8+ (e.g. `apt-get install maven`), or point ekjon at your own "
                "Neo4j with EKJON_NEO4J_URI (see docs/neo4j.md)."
            )
        build_log = target / "build.log"
        log.info(
            "Building the Neo4j %s launcher with Maven; a first build downloads %s from Maven "
            "Central into ~/.m2 (about a minute). Output: %s",
            NEO4J_VERSION,
            FIRST_BUILD_DOWNLOAD,
            build_log,
        )
        _BUILD_STAMP.unlink(missing_ok=True)
        downloads = 0
        with open(build_log, "w", encoding="utf-8") as out:
            process = subprocess.Popen(
                [mvn, "-B", "-DskipTests", "package"],
                cwd=LAUNCHER_DIR,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
            assert process.stdout is not None
            for line in process.stdout:
                out.write(line)
                if on_progress is not None:
                    on_progress(line.rstrip("\n"))
                if line.startswith("Downloaded from"):
                    downloads += 1
                    if downloads % 50 == 0:
                        log.info("Maven: %d files downloaded", downloads)
            returncode = process.wait()
        if returncode != 0 or not LAUNCHER_JAR.exists():
            raise Neo4jServerError(
                f"Building the Neo4j launcher failed (mvn exit code {returncode}); "
                f"see {build_log}:\n{_tail(build_log)}"
            )
        _BUILD_STAMP.write_text(fingerprint + "\n")
        log.info("Built %s", LAUNCHER_JAR)
        return LAUNCHER_JAR


# --- internals ------------------------------------------------------------------------------------


def _info(paths: _Paths, pid: int) -> ServerInfo:
    creds = _read_credentials(paths)
    return ServerInfo(
        pid=pid,
        uri=creds["uri"],
        user=creds["user"],
        http_uri=creds.get("http_uri"),
        database=creds.get("database", DEFAULT_DATABASE),
        home=paths.home,
        data_dir=paths.data,
        log_file=paths.log_file,
        credentials_file=paths.credentials,
    )


def _read_credentials(paths: _Paths) -> dict:
    try:
        return json.loads(paths.credentials.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Neo4jServerError(
            f"No Neo4j credentials at {paths.credentials}: start the server first with "
            "`ekjon neo4j start` (same EKJON_HOME)."
        ) from None
    except json.JSONDecodeError as exc:
        raise Neo4jServerError(
            f"{paths.credentials} is not valid JSON ({exc}); delete it and run `ekjon neo4j "
            "start` to set a new password."
        ) from None


def _load_or_create_credentials(
    paths: _Paths, bolt_port: int, http_port: int, heap: str, pagecache: str
) -> dict:
    """Read credentials.json, creating it with a new random password on first start.

    The ports and memory of this start are recorded too (a restart after a bulk import uses them).
    """
    if paths.credentials.exists():
        creds = _read_credentials(paths)
    else:
        creds = {
            "user": DEFAULT_USER,
            "password": secrets.token_urlsafe(24),
            "database": DEFAULT_DATABASE,
            "password_applied": False,
        }
    creds["uri"] = f"bolt://{LOOPBACK}:{bolt_port}"
    creds["http_uri"] = f"http://{LOOPBACK}:{http_port}" if http_port else None
    creds["heap"], creds["pagecache"] = heap, pagecache
    _write_private(paths.credentials, json.dumps(creds, indent=2) + "\n")
    return creds


def _system_db_exists(paths: _Paths) -> bool:
    return (paths.data / "databases" / "system").is_dir()


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    """Serialise start/stop/build across processes."""
    with open(lock_file, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _running_pid(paths: _Paths) -> int | None:
    """The pid in neo4j.pid if that process is alive and is our launcher for this home."""
    try:
        pid = int(paths.pid.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if not _alive(pid):
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            return None
        home_arg = f"--home={paths.home}".encode()
        # A recycled pid belongs to some other program: not our server.
        if not any(_LAUNCHER_MARK.encode() in a for a in args) or home_arg not in args:
            return None
    return pid


def _alive(pid: int) -> bool:
    try:
        # Reap it first if it is our own exited child (a zombie still answers kill(pid, 0)).
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _terminate(pid: int, grace: float) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, grace):
        return
    log.warning("Neo4j (pid %d) did not stop within %.0f s; killing it", pid, grace)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if not _wait_gone(pid, 10):
        raise Neo4jServerError(f"Neo4j (pid {pid}) survived SIGKILL; stop it by hand.")


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.2)
    return not _alive(pid)


def _wait_until_ready(
    process: subprocess.Popen[bytes], creds: dict, paths: _Paths, timeout: float
) -> None:
    """Return once a driver session with the stored password runs a query and HTTP answers."""
    from neo4j import GraphDatabase
    from neo4j.exceptions import AuthError, ServiceUnavailable, SessionExpired

    deadline = time.monotonic() + timeout
    while True:
        returncode = process.poll()
        if returncode is not None:
            raise Neo4jServerError(
                f"Neo4j exited with code {returncode} while starting; see {paths.log_file}:\n"
                f"{_tail(paths.log_file)}"
            )
        try:
            with GraphDatabase.driver(
                creds["uri"],
                auth=(creds["user"], creds["password"]),
                connection_timeout=5,
                max_connection_pool_size=1,
            ) as driver:
                # An auto-commit query: execute_query would retry with back-off on its own.
                with driver.session(database=creds.get("database", DEFAULT_DATABASE)) as session:
                    session.run("RETURN 1").consume()
            # Bolt opens before the web server; "started" means both connectors answer.
            if not creds.get("http_uri") or _http_answers(creds["http_uri"]):
                return
        except AuthError as exc:
            raise Neo4jServerError(
                f"Neo4j at {creds['uri']} refused the password in {paths.credentials} ({exc}). "
                f"If the data in {paths.data} came from elsewhere, set its neo4j password there, "
                "or delete credentials.json to have a new one set on the next start."
            ) from None
        except (ServiceUnavailable, SessionExpired, OSError):
            pass
        if time.monotonic() > deadline:
            raise Neo4jServerError(
                f"Neo4j did not accept a Bolt session on {creds['uri']} (and HTTP requests, if on) "
                f"within {timeout:.0f} s; "
                f"the server was stopped. See {paths.log_file} (and debug.log beside it):\n"
                f"{_tail(paths.log_file)}"
            )
        time.sleep(0.1)  # a refused connection costs next to nothing; answer as soon as up


def _http_answers(http_uri: str) -> bool:
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, direct
    try:
        with no_proxy.open(http_uri + "/", timeout=5) as response:
            return response.status == 200
    except OSError:  # URLError and HTTPError are OSErrors
        return False


def _ensure_port_free(port: int, connector: str, option: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Match the server's own bind (SO_REUSEADDR), so sockets in TIME_WAIT do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            raise PortInUse(
                f"Port {port} on {LOOPBACK} is already in use, so Neo4j's {connector} connector "
                f"cannot listen there (another Neo4j?). Choose a free port with {option}."
            ) from None


def _find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    java = str(candidate) if candidate and candidate.exists() else shutil.which("java")
    if java is None:
        raise Neo4jServerError(
            "Java is not installed (no `java` on PATH, no JAVA_HOME); Neo4j 5.26 needs Java 17 "
            "or 21, e.g. `apt-get install openjdk-17-jdk-headless`."
        )
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)', result.stderr)
    major = int(match.group(1)) if match else 0
    if major < 17:
        raise Neo4jServerError(
            f"{java} is Java {major or 'of unknown version'}; Neo4j 5.26 needs Java 17 or 21. "
            "Set JAVA_HOME to a Java 17+ installation."
        )
    return java


def _sources_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in [LAUNCHER_DIR / "pom.xml", *sorted((LAUNCHER_DIR / "src").rglob("*.java"))]:
        digest.update(str(path.relative_to(LAUNCHER_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _check_memory_size(name: str, value: str) -> None:
    if not _MEMORY_SIZE.match(value):
        raise ValueError(
            f"The {name!r} parameter of start must be a size like '4g' or '512m'. Got {value!r}."
        )


def _check_port(name: str, port: int, *, allow_zero: bool) -> None:
    low = 0 if allow_zero else 1
    if not isinstance(port, int) or not low <= port <= 65535:
        raise ValueError(
            f"The {name!r} parameter of start must be an int in [{low}, 65535]. Got {port!r}."
        )


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:])

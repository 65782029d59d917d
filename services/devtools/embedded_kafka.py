"""The embedded Apache Kafka: a real KRaft broker (or a 3-node quorum) on 127.0.0.1.

No Docker on these machines, so the project provisions Kafka itself: the jars come from
Maven Central through `deploy/kafka/pom.xml` (cached per version), the machine's Java 17+
runs them, the storage tool formats each node's data dir, and `kafka.Kafka` runs each node
in combined broker+controller mode with static controller voters.

Secured like production (docs/security.md): the client listener speaks SASL_SSL with
SCRAM-SHA-512 only, the KRaft StandardAuthorizer denies whatever no ACL allows, and the
controller listener (loopback) takes only the brokers' own certificate (mutual TLS). On
first start the dev CA, the broker certificate and a SCRAM credential for the admin and
every fixed principal of topics.yaml are made under `<home>/secrets/` (0600) and added
at format time (`--add-scram`, passed in an argument file, never on the command line).

Layout under `settings.home`:
    kafka/                 the single broker: server.properties (0600), data/, logs/server.log
    kafka-cluster/node-N/  node N of the 3-node quorum, same shape
    secrets/               ca.pem, ca.key, broker.pem, broker.key, <principal>.properties
    run/kafka*.pid         JSON pid files (pid, port, version) of running nodes
"""

from __future__ import annotations

import abc
import base64
import contextlib
import enum
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Required, TypedDict, Unpack

from ketenbus.errors import KetenbusError
from ketenbus.processes import pid_alive
from ketenbus.security import pki, scram, store
from ketenbus.security.errors import SecurityError
from ketenbus.security.names import ADMIN
from ketenbus.security.principals import fixed_principals
from ketenbus.security.properties import write_private
from ketenbus.settings import PROJECT_ROOT, Settings

LOOPBACK = "127.0.0.1"
MIN_JAVA_MAJOR = 17
KAFKA_POM = PROJECT_ROOT / "deploy" / "kafka" / "pom.xml"
LOG4J_CONFIG = PROJECT_ROOT / "deploy" / "kafka" / "log4j2.yaml"
CLUSTER_SIZE = 3

Progress = Callable[[str], None]


class KafkaLocalError(KetenbusError):
    """The embedded broker could not be provisioned, started or stopped."""


class ToolMissing(KafkaLocalError):
    """A program the embedded broker needs (Java 17+, Maven) is not installed."""


class JarFetchFailed(KafkaLocalError):
    """Maven could not fetch the Kafka jars."""


class PortInUse(KafkaLocalError):
    """A port the broker needs is taken by another process."""


class BrokerStartFailed(KafkaLocalError):
    """A broker JVM exited or did not answer in time."""


class CredentialsRefused(KafkaLocalError):
    """The broker runs but refuses the admin's SCRAM password (a stale data directory)."""


#: A refusal right after launch could be the broker still loading its metadata; a refusal
#: this many probes in a row (about 2 s apart) is a data directory with other credentials.
CREDENTIAL_REFUSALS_BEFORE_GIVING_UP = 3


class UnknownNode(KafkaLocalError):
    """A quorum node number outside 1..size."""


def _silent(_: str) -> None:
    pass


# --------------------------------------------------------------------------- tools


def parse_java_major(version_output: str) -> int | None:
    """The major version from `java -version` output ('1.8.0_x' -> 8, '17.0.15' -> 17)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2) is not None:
        return int(match.group(2))
    return major


def find_java() -> Path:
    """The java executable (JAVA_HOME first), checked to be Java 17 or newer."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    if candidate is None or not candidate.exists():
        found = shutil.which("java")
        candidate = Path(found) if found else None
    if candidate is None:
        raise ToolMissing(
            "Java 17 or newer is needed to run the embedded Kafka broker: install a JDK/JRE 17+ "
            "(e.g. `apt-get install openjdk-17-jre-headless`) or set JAVA_HOME."
        )
    result = subprocess.run(
        [str(candidate), "-version"], capture_output=True, text=True, check=False
    )
    major = parse_java_major(result.stderr + result.stdout)
    if major is None or major < MIN_JAVA_MAJOR:
        raise ToolMissing(
            f"Java 17 or newer is needed to run the embedded Kafka broker, but {candidate} is "
            f"Java {major or 'of unknown version'}: install a JDK/JRE 17+ "
            "or point JAVA_HOME at one."
        )
    return candidate


def pom_digest(pom: Path, version: str) -> str:
    """What a jar cache was fetched for: the pom and the Kafka version."""
    return hashlib.sha256(pom.read_bytes() + version.encode()).hexdigest()


def ensure_jars(
    version: str, cache_dir: Path, progress: Progress = _silent, pom: Path = KAFKA_POM
) -> Path:
    """The directory holding Kafka `version` and its dependencies, fetched once with Maven.

    A marker file records the pom and version the directory was fetched for, so a warm cache
    costs nothing and a changed pom (e.g. another log binding) fetches again.
    """
    version_dir = cache_dir / f"kafka-{version}"
    libs = version_dir / "libs"
    marker = version_dir / ".complete"
    digest = pom_digest(pom, version)
    if marker.is_file() and marker.read_text().strip() == digest and libs.is_dir():
        return libs
    version_dir.mkdir(parents=True, exist_ok=True)
    # Several engineers (and CI) share the cache: one fetch at a time.
    with (version_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and marker.read_text().strip() == digest and libs.is_dir():
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ToolMissing(
                "Maven is needed once to fetch the Kafka jars from Maven Central: install it "
                "(e.g. `apt-get install maven`)."
            )
        progress(f"fetching Apache Kafka {version} jars from Maven Central into {libs}")
        partial = version_dir / "libs.partial"
        shutil.rmtree(partial, ignore_errors=True)
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                f"-Dkafka.version={version}",
                f"-DoutputDirectory={partial}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        jars = list(partial.glob(f"kafka_2.13-{version}.jar")) if partial.is_dir() else []
        if result.returncode != 0 or not jars:
            tail = (result.stdout + result.stderr).strip()[-2000:]
            raise JarFetchFailed(
                f"mvn could not fetch Kafka {version} (exit {result.returncode}):\n{tail}"
            )
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)
        marker.write_text(digest + "\n")
    return libs


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class NodeConfig:
    """What makes one combined broker+controller node: its id, ports, quorum and data dir."""

    node_id: int
    port: int
    voters: tuple[tuple[int, int], ...]  # (node id, controller port) of every voter
    data_dir: Path

    @property
    def controller_port(self) -> int:
        return self.port + 1

    @property
    def bootstrap(self) -> str:
        return f"{LOOPBACK}:{self.port}"


@dataclass(frozen=True)
class BrokerSecurity:
    """What a node needs to be secured: the dev PKI and the admin's SCRAM password."""

    pki: pki.PkiFiles
    admin_password: str = field(repr=False)

    def properties(self) -> dict[str, str]:
        """SASL_SSL client listener, mutual-TLS controller listener, StandardAuthorizer."""
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required"
            f' username="{ADMIN}" password="{self.admin_password}";'
        )
        return {
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            # the brokers talk to each other over the client listener as the admin
            "listener.name.client.scram-sha-512.sasl.jaas.config": jaas,
            # PEM key store inline (Kafka 4: no keytool); the key never leaves this 0600 file
            "ssl.keystore.type": "PEM",
            "ssl.keystore.certificate.chain": self.pki.broker_cert.read_text(),
            "ssl.keystore.key": self.pki.broker_key.read_text(),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.pki.ca_cert),
            # the controller quorum admits only holders of a certificate of the dev CA (the
            # brokers); the certificate's CN is their principal
            "listener.name.controller.ssl.client.auth": "required",
            "ssl.principal.mapping.rules": "RULE:^CN=([^,]+).*$/$1/,DEFAULT",
            "authorizer.class.name": ("org.apache.kafka.metadata.authorizer.StandardAuthorizer"),
            "allow.everyone.if.no.acl.found": "false",
            "super.users": f"User:{ADMIN};User:{pki.BROKER_CN}",
        }


def secured_client_settings(bootstrap: str, secrets_dir: Path) -> Settings:
    """Settings for a client acting as the admin of the embedded broker with these secrets."""
    from ketenbus.settings import get_settings

    return get_settings().model_copy(
        update={
            "bootstrap_servers": bootstrap,
            "kafka_secrets_dir": secrets_dir,
            "kafka_security_protocol": "SASL_SSL",
            "kafka_principal": ADMIN,
            "kafka_sasl_username": None,
            "kafka_sasl_password": None,
            "kafka_properties_file": None,
            "kafka_ssl_ca_location": None,
        }
    )


def prepare_security(
    settings: Settings, topics_file: Path
) -> tuple[BrokerSecurity, list[tuple[str, str]]]:
    """The PKI and the credentials to add at format time: admin, every fixed principal of
    topics.yaml and any principal issued before (so a purged broker knows them again)."""
    from ketenbus.topics.spec import TopicsError, load_topics

    bootstrap = settings.bootstrap_servers
    files = pki.ensure_pki(settings.secrets_dir)
    try:
        names = fixed_principals(load_topics(topics_file))
    except TopicsError:  # `topics apply` reports an invalid file; the admin suffices here
        names = [ADMIN]
    try:
        for name in names:
            store.ensure(settings, name, bootstrap)
        credentials = [(c.username, c.password) for c in store.all_stored(settings)]
    except SecurityError as exc:
        raise BrokerStartFailed(f"cannot prepare the broker's credentials: {exc}") from exc
    admin = dict(credentials)[ADMIN]
    return BrokerSecurity(files, admin), credentials


def render_properties(node: NodeConfig, security: BrokerSecurity | None = None) -> dict[str, str]:
    """The server.properties of one node; replication follows the quorum size (1 or 3).

    Without `security` (unit tests of the layout only) the listeners are PLAINTEXT.
    """
    replicas = len(node.voters)
    min_isr = min(2, replicas)
    client = "CLIENT" if security is not None else "PLAINTEXT"
    protocols = (
        "CLIENT:SASL_SSL,CONTROLLER:SSL" if security else "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    )
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": ",".join(f"{i}@{LOOPBACK}:{p}" for i, p in node.voters),
        "listeners": f"{client}://{LOOPBACK}:{node.port},CONTROLLER://{LOOPBACK}:{node.controller_port}",
        "advertised.listeners": f"{client}://{LOOPBACK}:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": client,
        "listener.security.protocol.map": protocols,
        "log.dirs": str(node.data_dir),
        # Topics come from topics.yaml (`ketenbus topics apply`), never from a typo.
        "auto.create.topics.enable": "false",
        "num.partitions": "3",
        "default.replication.factor": str(replicas),
        "min.insync.replicas": str(min_isr),
        "unclean.leader.election.enable": "false",
        "offsets.topic.replication.factor": str(replicas),
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": str(min_isr),
        "share.coordinator.state.topic.replication.factor": str(replicas),
        "share.coordinator.state.topic.min.isr": str(min_isr),
        # Local and test consumers should not wait 3 s for a group to settle.
        "group.initial.rebalance.delay.ms": "0",
        "log.retention.hours": "168",
    }
    if security is not None:
        props.update(security.properties())
    return props


def properties_text(props: Mapping[str, str]) -> str:
    """Java properties text; a multi-line value (a PEM block) is written with `\\n` escapes."""
    return "".join(f"{key}={_escape(value)}\n" for key, value in props.items())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def argfile_text(args: list[str]) -> str:
    """A java launcher @argfile: one argument a line, single-quoted (none holds a quote)."""
    if any("'" in arg or "\n" in arg for arg in args):
        raise ValueError("an argument with a quote or newline cannot go in an argfile")
    return "".join(f"'{arg}'\n" for arg in args)


def new_cluster_id() -> str:
    """A Kafka cluster id: url-safe base64 of a random UUID, like `kafka-storage random-uuid`."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka avoids ids that look like CLI options
            return text


# --------------------------------------------------------------------------- processes

# JVMs this Python process started: polled so that they are reaped, not left as zombies
# that `kill -0` would still report alive.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    return pid_alive(pid)


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _is_node_jvm(pid: int, props_file: Path, *, patient: bool = False) -> bool:
    """Whether `pid` is the kafka.Kafka JVM of this node (guards against reused pids)."""
    child = _CHILDREN.get(pid)
    if child is not None:  # started by this process: its args are ours
        return str(props_file) in [str(arg) for arg in child.args]  # type: ignore[union-attr]
    args = _cmdline(pid)
    if args is None:  # no /proc (not Linux): trust the pid file
        return _alive(pid)
    # A process caught inside execve() shows an empty command line for a moment (so do
    # kernel threads and zombies: only worth waiting for when a pid file names the process).
    for _ in range(20 if patient else 0):
        if args:
            break
        time.sleep(0.05)
        args = _cmdline(pid) or []
    return "kafka.Kafka" in args and str(props_file) in args


def _find_node_jvm(props_file: Path) -> int | None:
    """A running JVM of this node whose pid file was lost (so `down` leaves no orphan)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    for entry in proc.iterdir():
        if entry.name.isdigit():
            pid = int(entry.name)
            if _is_node_jvm(pid, props_file) and _alive(pid):
                return pid
    return None


def port_accepts(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((host, port)) == 0


def port_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a listener could bind host:port now (SO_REUSEADDR, as the JVM binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port_block(start: int, count: int, tries: int = 500) -> int:
    """The first port >= start with `count` consecutive free ports (for test brokers)."""
    for first in range(start, start + tries):
        if all(port_free(port) and not port_accepts(port) for port in range(first, first + count)):
            return first
    raise PortInUse(f"no {count} consecutive free ports in {start}..{start + tries}")


class Probe(enum.Enum):
    """What a metadata request to a broker found."""

    ANSWERS = "answers"
    DOWN = "down"
    #: the broker runs and refuses this principal's SCRAM password
    REFUSES_CREDENTIALS = "refuses credentials"


def probe_broker(
    bootstrap: str,
    timeout: float = 5.0,
    expected_brokers: int = 1,
    settings: Settings | None = None,
) -> Probe:
    """Ask the cluster at `bootstrap` for metadata as this process's principal: it answers
    (listing enough brokers), is down (or still starting), or refuses the credentials."""
    addresses = [address.strip().rpartition(":") for address in bootstrap.split(",")]
    # A refused TCP connect answers in microseconds; the admin client would retry for seconds.
    if not any(
        port.isdigit() and port_accepts(int(port), host or LOOPBACK) for host, _, port in addresses
    ):
        return Probe.DOWN
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient

    from ketenbus.kafka_clients import client_config

    refused: list[bool] = []

    def on_error(error: KafkaError) -> None:
        # librdkafka reports a refused SASL handshake only here; list_topics then says
        # "transport failure", which reads the same as a broker still starting.
        if error.code() == KafkaError._AUTHENTICATION:
            refused.append(True)

    try:
        # log_level 0: a broker still starting is expected here, not worth stderr noise.
        config = client_config(
            settings, bootstrap_servers=bootstrap, extra={"log_level": 0, "error_cb": on_error}
        )
    except SecurityError:  # no credentials yet: nothing was ever started here
        return Probe.DOWN
    admin = AdminClient(config)
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException:
        admin.poll(0.1)  # delivers the queued error callbacks
        return Probe.REFUSES_CREDENTIALS if refused else Probe.DOWN
    return Probe.ANSWERS if len(metadata.brokers) >= expected_brokers else Probe.DOWN


def broker_answers(
    bootstrap: str,
    timeout: float = 5.0,
    expected_brokers: int = 1,
    settings: Settings | None = None,
) -> bool:
    """Whether the cluster at `bootstrap` answers a metadata request listing enough brokers
    (to this process's principal: a broker that refuses it does not count as answering)."""
    return probe_broker(bootstrap, timeout, expected_brokers, settings) is Probe.ANSWERS


@dataclass(frozen=True)
class NodeStatus:
    """What `status` reports for one node."""

    name: str
    node_id: int
    running: bool
    pid: int | None
    port: int
    controller_port: int
    version: str
    home: Path

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "server.log"


@dataclass
class _Runtime:
    """The Java + jars the nodes run on, resolved only when a node starts."""

    version: str
    heap: str
    cache_dir: Path
    progress: Progress
    _java: Path | None = None
    _libs: Path | None = None

    def resolve(self) -> tuple[Path, Path]:
        if self._java is None:
            self._java = find_java()
        if self._libs is None:
            self._libs = ensure_jars(self.version, self.cache_dir, self.progress)
        return self._java, self._libs

    def command(self, main: str, *args: str, logs_dir: Path, heap: str | None = None) -> list[str]:
        java, libs = self.resolve()
        return [
            str(java),
            f"-Xmx{heap or self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            f"-Dkafka.logs.dir={logs_dir}",
            "-cp",
            f"{libs}/*",
            main,
            *args,
        ]


class BrokerNode:
    """One combined broker+controller JVM whose files live under `home`."""

    def __init__(
        self, name: str, config: NodeConfig, home: Path, pid_file: Path, runtime: _Runtime
    ) -> None:
        self.name = name
        self.config = config
        self.home = home
        self.pid_file = pid_file
        self.runtime = runtime
        #: set by the front door before `format`/`launch` (LocalBroker, LocalCluster)
        self.security: BrokerSecurity | None = None
        #: how the readiness probe connects (as the admin, with the secrets of this broker)
        self.client_settings: Settings | None = None
        self.scram_credentials: list[tuple[str, str]] = []

    @property
    def props_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def formatted(self) -> bool:
        return (self.config.data_dir / "meta.properties").is_file()

    def pid(self) -> int | None:
        """The pid of this node's running JVM; a stale pid file is removed."""
        if self.pid_file.is_file():
            try:
                pid = int(json.loads(self.pid_file.read_text())["pid"])
            except (ValueError, KeyError, TypeError):
                pid = -1
            if pid > 0 and _alive(pid) and _is_node_jvm(pid, self.props_file, patient=True):
                return pid
            self.runtime.progress(f"{self.name}: removed stale pid file {self.pid_file}")
            self.pid_file.unlink(missing_ok=True)
        return _find_node_jvm(self.props_file)

    def status(self) -> NodeStatus:
        pid = self.pid()
        version = self.runtime.version
        if pid is not None and self.pid_file.is_file():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                version = str(json.loads(self.pid_file.read_text())["version"])
        return NodeStatus(
            name=self.name,
            node_id=self.config.node_id,
            running=pid is not None,
            pid=pid,
            port=self.config.port,
            controller_port=self.config.controller_port,
            version=version,
            home=self.home,
        )

    def format(self, cluster_id: str) -> None:
        """Format the KRaft storage of this node (once: a formatted dir keeps its data)."""
        self._write_properties()
        if self.formatted:
            return
        self.runtime.resolve()  # fetch the jars first, so progress reads in order
        self.runtime.progress(
            f"{self.name}: formatting KRaft storage (cluster {cluster_id},"
            f" {len(self.scram_credentials)} SCRAM principals)"
        )
        scram_args: list[str] = []
        for user, password in self.scram_credentials:
            scram_args += ["--add-scram", scram.format_argument(user, password)]
        command = self.runtime.command(
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(self.props_file),
            *scram_args,
            logs_dir=self.logs_dir,
            heap="256m",
        )
        # The passwords go in a 0600 argument file the java launcher expands, not in argv
        # (which `ps` shows to every user of the machine).
        argfile = self.home / "format.args"
        write_private(argfile, argfile_text(command[1:]))
        try:
            result = subprocess.run(
                [command[0], f"@{argfile}"], capture_output=True, text=True, check=False
            )
        finally:
            argfile.unlink(missing_ok=True)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()[-2000:]
            raise BrokerStartFailed(f"{self.name}: formatting storage failed:\n{output}")

    def _write_properties(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        # 0600: it holds the broker's private key and the admin's inter-broker password
        write_private(
            self.props_file, properties_text(render_properties(self.config, self.security))
        )

    def launch(self) -> int:
        """Start the JVM (no wait); the node must be formatted and its ports free."""
        for port in (self.config.port, self.config.controller_port):
            if not port_free(port):
                raise PortInUse(
                    f"{self.name}: port {port} on {LOOPBACK} is in use by another process; "
                    "stop it or choose other ports "
                    "(KETENBUS_KAFKA_PORT / KETENBUS_KAFKA_CLUSTER_PORT)."
                )
        self._write_properties()
        command = self.runtime.command("kafka.Kafka", str(self.props_file), logs_dir=self.logs_dir)
        with (self.logs_dir / "kafka.out").open("ab") as out:
            child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.home,
                start_new_session=True,  # Ctrl-C in the terminal must not kill the broker
            )
        _CHILDREN[child.pid] = child
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(
            json.dumps(
                {"pid": child.pid, "port": self.config.port, "version": self.runtime.version}
            )
        )
        self.runtime.progress(
            f"{self.name}: started pid {child.pid} on {self.config.bootstrap},"
            f" logs in {self.logs_dir}"
        )
        return child.pid

    def wait_ready(self, timeout: float, expected_brokers: int = 1) -> None:
        """Block until the node answers metadata requests; raise if its JVM dies first."""
        deadline = time.monotonic() + timeout
        refusals = 0
        while True:
            pid = self.pid()
            if pid is None:
                raise BrokerStartFailed(
                    f"{self.name}: the broker exited during startup; see {self.logs_dir}/server.log"
                    f" and kafka.out:\n{self._log_tail()}"
                )
            probe = probe_broker(
                self.config.bootstrap,
                timeout=2.0,
                expected_brokers=expected_brokers,
                settings=self.client_settings,
            )
            if probe is Probe.ANSWERS:
                return
            refusals = refusals + 1 if probe is Probe.REFUSES_CREDENTIALS else 0
            if refusals >= CREDENTIAL_REFUSALS_BEFORE_GIVING_UP:
                raise CredentialsRefused(
                    f"{self.name}: the broker on {self.config.bootstrap} runs but refuses the"
                    " admin's credentials of this KETENBUS_HOME. Its data directory"
                    f" {self.config.data_dir} was formatted with other SCRAM principals (by an"
                    " older ketenbus without security, or before the secrets were recreated)."
                    " Run `ketenbus kafka down --purge` (this deletes its topics) and start again."
                )
            if time.monotonic() > deadline:
                raise BrokerStartFailed(
                    f"{self.name}: no metadata answer on {self.config.bootstrap}"
                    f" after {timeout:.0f} s;"
                    f" see {self.logs_dir}/server.log:\n{self._log_tail()}"
                )
            time.sleep(0.5)

    def _log_tail(self, lines: int = 15) -> str:
        tails = []
        for path in (self.logs_dir / "kafka.out", self.logs_dir / "server.log"):
            if path.is_file():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                tails.append("\n".join(text))
        return "\n".join(tails)

    def signal_stop(self, *, kill: bool = False) -> int | None:
        """Send SIGTERM (or SIGKILL) to the JVM; the pid signalled, None if it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return None
        self.runtime.progress(f"{self.name}: stopping pid {pid}")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
        return pid

    def wait_stopped(self, pid: int, timeout: float = 60.0) -> None:
        """Wait for the JVM to exit (SIGKILL after `timeout`) and its ports to be free."""
        if not _wait_until(lambda: not _alive(pid), timeout):
            self.runtime.progress(f"{self.name}: no exit after {timeout:.0f} s, sending SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait_until(lambda: not _alive(pid), 10.0)
        self.pid_file.unlink(missing_ok=True)
        # The kernel releases the listening sockets with the process; wait to be sure.
        _wait_until(
            lambda: port_free(self.config.port) and port_free(self.config.controller_port), 10.0
        )

    def stop(self, timeout: float = 60.0, *, kill: bool = False) -> bool:
        """Stop the JVM (SIGTERM, then SIGKILL after `timeout`); False if it was not running."""
        pid = self.signal_stop(kill=kill)
        if pid is None:
            return False
        self.wait_stopped(pid, timeout)
        return True


def _wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


# --------------------------------------------------------------------------- front doors

DEFAULT_TOPICS_FILE = PROJECT_ROOT / "topics.yaml"


def _secure(nodes: list[BrokerNode], client_settings: Settings, topics_file: Path) -> None:
    """Give the nodes the PKI and credentials (made on first use) they start with."""
    security, credentials = prepare_security(client_settings, topics_file)
    for node in nodes:
        node.security = security
        node.scram_credentials = credentials
        node.client_settings = client_settings


class KafkaOptions(TypedDict, total=False):
    """What a local broker and a local quorum are both made with (keyword arguments)."""

    home: Required[Path]  # KETENBUS_HOME: data under <home>/kafka[-cluster], pids in run/
    version: Required[str]  # Kafka release (its jars come from Maven Central)
    heap: Required[str]  # JVM heap of each node, e.g. "512m"
    cache_dir: Required[Path]  # where the jars are cached
    start_timeout: float  # seconds a start may take; default 180
    progress: Progress  # told what happens; default: silent
    secrets_dir: Path | None  # CA and credentials; default <home>/secrets
    topics_file: Path  # topics and principals it secures; default topics.yaml


class _LocalKafka(abc.ABC):
    """What the single broker and the quorum share: their runtime, root, secrets and the
    admin client settings that reach them."""

    def __init__(self, root: str, **options: Unpack[KafkaOptions]) -> None:
        home = options["home"]
        self.runtime = _Runtime(
            version=options["version"],
            heap=options["heap"],
            cache_dir=options["cache_dir"],
            progress=options.get("progress", _silent),
        )
        self.root = home / root
        self.start_timeout = options.get("start_timeout", 180.0)
        # the single broker and the quorum of one home share its CA and credentials
        self.secrets_dir = options.get("secrets_dir") or home / "secrets"
        self.topics_file = options.get("topics_file", DEFAULT_TOPICS_FILE)

    @staticmethod
    def options_from(settings: Settings, progress: Progress) -> KafkaOptions:
        """The options `settings` name (KETENBUS_HOME, KETENBUS_KAFKA_*)."""
        return KafkaOptions(
            home=settings.home,
            version=settings.kafka_version,
            heap=settings.kafka_heap,
            cache_dir=settings.kafka_cache_dir,
            start_timeout=settings.kafka_start_timeout,
            progress=progress,
            secrets_dir=settings.secrets_dir,
            topics_file=settings.topics_file,
        )

    @property
    @abc.abstractmethod
    def bootstrap_servers(self) -> str: ...

    @property
    def client_settings(self) -> Settings:
        """Settings of an admin client of these nodes (their secrets dir, their addresses)."""
        return secured_client_settings(self.bootstrap_servers, self.secrets_dir)


class LocalBroker(_LocalKafka):
    """The single-node embedded broker (`ketenbus kafka up | down | status`)."""

    def __init__(self, *, port: int, **options: Unpack[KafkaOptions]) -> None:
        super().__init__("kafka", **options)
        config = NodeConfig(
            node_id=1, port=port, voters=((1, port + 1),), data_dir=self.root / "data"
        )
        run = options["home"] / "run"
        self.node = BrokerNode("kafka", config, self.root, run / "kafka.pid", self.runtime)

    @classmethod
    def from_settings(cls, settings: Settings, progress: Progress = _silent) -> LocalBroker:
        return cls(port=settings.kafka_port, **cls.options_from(settings, progress))

    @property
    def bootstrap_servers(self) -> str:
        return self.node.config.bootstrap

    def start(self) -> str:
        """Start the broker unless it runs; return once it answers. Returns bootstrap servers."""
        _secure([self.node], self.client_settings, self.topics_file)
        if self.node.pid() is not None:
            self.runtime.progress(f"kafka: already running on {self.bootstrap_servers}")
        else:
            self.node.format(new_cluster_id())
            self.node.launch()
        self.node.wait_ready(self.start_timeout)
        self.runtime.progress(f"kafka: ready on {self.bootstrap_servers}")
        return self.bootstrap_servers

    def stop(self, *, purge: bool = False) -> bool:
        """Stop the broker; `purge` also deletes its data and logs. False if it was not running."""
        was_running = self.node.stop()
        if not was_running:
            self.runtime.progress("kafka: not running")
        if purge:
            shutil.rmtree(self.root, ignore_errors=True)
            self.runtime.progress(f"kafka: deleted {self.root}")
        return was_running

    def status(self) -> NodeStatus:
        return self.node.status()


def cluster_node_port(base_port: int, node_id: int) -> int:
    """Node n of the quorum listens on base + 2(n-1); its controller on the port after."""
    return base_port + 2 * (node_id - 1)


class LocalCluster(_LocalKafka):
    """A 3-node KRaft quorum on loopback for fault tests (RF 3, min.insync.replicas 2)."""

    def __init__(
        self, *, base_port: int, size: int = CLUSTER_SIZE, **options: Unpack[KafkaOptions]
    ) -> None:
        super().__init__("kafka-cluster", **options)
        self.size = size
        run = options["home"] / "run"
        ids = range(1, size + 1)
        voters = tuple((n, cluster_node_port(base_port, n) + 1) for n in ids)
        self.nodes = {
            n: BrokerNode(
                f"node-{n}",
                NodeConfig(
                    node_id=n,
                    port=cluster_node_port(base_port, n),
                    voters=voters,
                    data_dir=self.root / f"node-{n}" / "data",
                ),
                self.root / f"node-{n}",
                run / f"kafka-cluster-node-{n}.pid",
                self.runtime,
            )
            for n in ids
        }

    @classmethod
    def from_settings(cls, settings: Settings, progress: Progress = _silent) -> LocalCluster:
        return cls(base_port=settings.kafka_cluster_port, **cls.options_from(settings, progress))

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.config.bootstrap for node in self.nodes.values())

    def node(self, node_id: int) -> BrokerNode:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise UnknownNode(f"no node {node_id}: the quorum has nodes 1..{self.size}") from None

    def _cluster_id(self) -> str:
        id_file = self.root / "cluster.id"
        if not id_file.is_file():
            self.root.mkdir(parents=True, exist_ok=True)
            id_file.write_text(new_cluster_id() + "\n")
        return id_file.read_text().strip()

    def start(self) -> str:
        """Start every node that is not running, then wait until each sees the whole quorum."""
        _secure(list(self.nodes.values()), self.client_settings, self.topics_file)
        cluster_id = self._cluster_id()
        for node in self.nodes.values():
            if node.pid() is None:
                node.format(cluster_id)
                node.launch()
            else:
                self.runtime.progress(f"{node.name}: already running on {node.config.bootstrap}")
        # All nodes start together: a controller quorum needs a majority before anyone answers.
        for node in self.nodes.values():
            node.wait_ready(self.start_timeout, expected_brokers=self.size)
        self.runtime.progress(f"cluster: ready on {self.bootstrap_servers}")
        return self.bootstrap_servers

    def stop_node(self, node_id: int, *, kill: bool = False) -> bool:
        """Stop one node (clean SIGTERM, or SIGKILL with `kill`) to test faults."""
        return self.node(node_id).stop(kill=kill)

    def start_node(self, node_id: int) -> None:
        """Start one stopped node again and wait until it answers."""
        node = self.node(node_id)
        _secure([node], self.client_settings, self.topics_file)
        if node.pid() is None:
            node.format(self._cluster_id())
            node.launch()
        node.wait_ready(self.start_timeout)

    def stop(self, *, purge: bool = False) -> bool:
        """Stop every node; `purge` deletes the quorum's data. False if none was running."""
        # Signal all nodes first: stopped one by one, the last ones would lose their quorum
        # in the middle of a controlled shutdown and wait for it.
        signalled = [(node, node.signal_stop()) for node in self.nodes.values()]
        stopped = [pid is not None for _, pid in signalled]
        for node, pid in signalled:
            if pid is not None:
                node.wait_stopped(pid)
        if not any(stopped):
            self.runtime.progress("cluster: not running")
        if purge:
            shutil.rmtree(self.root, ignore_errors=True)
            self.runtime.progress(f"cluster: deleted {self.root}")
        return any(stopped)

    def status(self) -> list[NodeStatus]:
        return [node.status() for node in self.nodes.values()]

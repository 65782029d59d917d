"""The security package's parts that need no broker: properties files, client settings,
principal names, ACL drift, the dev PKI and the secured broker configuration."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from topics_builders import spec

from devtools.embedded_kafka import (
    BrokerSecurity,
    NodeConfig,
    argfile_text,
    properties_text,
    render_properties,
)
from ketenbus.kafka_clients import client_config
from ketenbus.security.acls import diff_acls
from ketenbus.security.errors import CredentialsMissing, UnknownPrincipal
from ketenbus.security.names import check_name
from ketenbus.security.pki import BROKER_CN, ensure_pki
from ketenbus.security.principals import fixed_principals, resolve
from ketenbus.security.properties import (
    ClientCredentials,
    parse_properties,
    write_private,
)
from ketenbus.security.properties import (
    render_properties as render_client_properties,
)
from ketenbus.security.scram import format_argument, new_password
from ketenbus.settings import PROJECT_ROOT, Settings
from ketenbus.topics.acl import Acl
from ketenbus.topics.spec import load_topics

SECRET = "s3cret-Pa55word_xyz"


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(home=tmp_path, bootstrap_servers="127.0.0.1:1234", **values)  # type: ignore[arg-type]


def _store(tmp_path: Path, name: str, password: str = SECRET) -> Path:
    credentials = ClientCredentials(name, password, tmp_path / "secrets" / "ca.pem")
    path = tmp_path / "secrets" / f"{name}.properties"
    write_private(path, render_client_properties("127.0.0.1:1234", credentials))
    return path


class TestClientProperties:
    """A principal's client config carries exactly the librdkafka keys an agency needs."""

    def test_rendered_keys(self) -> None:
        text = render_client_properties(
            "b:9092", ClientCredentials("nla", SECRET, Path("/s/ca.pem"))
        )
        assert {
            "bootstrap.servers": "b:9092",
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": "nla",
            "sasl.password": SECRET,
            "ssl.ca.location": "/s/ca.pem",
        } == parse_properties(text)

    def test_comments_and_colons(self) -> None:
        assert {"a": "1", "b": "x=y"} == parse_properties("# c\n! d\n\na: 1\nb=x=y\n")

    def test_repr_hides_the_password(self) -> None:
        assert SECRET not in repr(ClientCredentials("nla", SECRET, Path("/ca.pem")))

    def test_written_owner_only(self, tmp_path: Path) -> None:
        path = _store(tmp_path, "nla")
        assert 0o600 == stat.S_IMODE(path.stat().st_mode)
        assert 0o700 == stat.S_IMODE(path.parent.stat().st_mode)


class TestClientConfig:
    """client_config adds the principal's SASL_SSL settings, or none for PLAINTEXT."""

    def test_plaintext(self, tmp_path: Path) -> None:
        settings = _settings(tmp_path, kafka_security_protocol="PLAINTEXT")
        assert {"bootstrap.servers": "127.0.0.1:1234", "security.protocol": "PLAINTEXT"} == (
            client_config(settings)
        )

    def test_own_principal_from_its_properties_file(self, tmp_path: Path) -> None:
        _store(tmp_path, "ketenbus-correlator")
        settings = _settings(tmp_path, kafka_principal="ketenbus-correlator")
        config = client_config(settings, group_id="g")
        assert ("ketenbus-correlator", SECRET, "g", "SASL_SSL") == (
            config["sasl.username"],
            config["sasl.password"],
            config["group.id"],
            config["security.protocol"],
        )

    def test_other_principal(self, tmp_path: Path) -> None:
        _store(tmp_path, "nla", "other")
        config = client_config(_settings(tmp_path), principal="nla")
        assert ("nla", "other") == (config["sasl.username"], config["sasl.password"])

    def test_user_and_password_from_settings(self, tmp_path: Path) -> None:
        settings = _settings(
            tmp_path, kafka_sasl_username="nla", kafka_sasl_password=SECRET, kafka_principal="nla"
        )
        config = client_config(settings)
        assert ("nla", SECRET, str(tmp_path / "secrets" / "ca.pem")) == (
            config["sasl.username"],
            config["sasl.password"],
            config["ssl.ca.location"],
        )

    def test_overrides_win(self, tmp_path: Path) -> None:
        _store(tmp_path, "admin")
        config = client_config(_settings(tmp_path), bootstrap_servers="h:1", extra={"log_level": 0})
        assert ("h:1", 0) == (config["bootstrap.servers"], config["log_level"])

    def test_missing_credentials_name_the_file_not_a_secret(self, tmp_path: Path) -> None:
        with pytest.raises(CredentialsMissing) as caught:
            client_config(_settings(tmp_path), principal="politie")
        assert str(tmp_path / "secrets" / "politie.properties") in str(caught.value)


class TestPrincipals:
    """Principal names come from topics.yaml; credentials issue accepts codes and names."""

    @pytest.mark.parametrize(
        ("who", "expected"),
        [
            ("gemeente:0599", "gemeente-0599"),
            ("gemeente:0344", "gemeente-0344"),
            ("gemeente-0344", "gemeente-0344"),
            ("nla", "nla"),
            ("correlator", "corr"),
            ("User:corr", "corr"),
            ("admin", "admin"),
        ],
    )
    def test_resolve(self, who: str, expected: str) -> None:
        assert expected == resolve(spec(), who)

    @pytest.mark.parametrize("who", ["douane", "../etc/passwd", "gemeente:59", "GEMEENTE-0599"])
    def test_unknown(self, who: str) -> None:
        with pytest.raises(UnknownPrincipal):
            resolve(spec(), who)

    def test_names_are_safe_file_names(self) -> None:
        with pytest.raises(UnknownPrincipal):
            check_name("a/b")

    def test_fixed_principals_of_the_real_file(self) -> None:
        names = fixed_principals(load_topics(PROJECT_ROOT / "topics.yaml"))
        assert {"admin", "nla", "politie", "nau", "gemeente-0599", "ketenbus-correlator"} <= set(
            names
        )
        assert not [n for n in names if "{" in n]


class TestAclDrift:
    """Missing ACLs are created, ACLs topics.yaml does not generate are drift."""

    def test_diff(self) -> None:
        keep = Acl("User:a", "TOPIC", "LITERAL", "t", "READ")
        want = Acl("User:a", "TOPIC", "LITERAL", "t", "DESCRIBE")
        stray = Acl("User:x", "TOPIC", "LITERAL", "t", "WRITE")
        drift = diff_acls([keep, want], [keep, stray])
        assert ([want], [stray], False) == (drift.missing, drift.unexpected, drift.clean)


class TestSecuredBrokerConfig:
    """The broker's client listener is SASL_SSL only, its controller listener mutual TLS,
    and the authorizer denies what no ACL allows; secrets stay out of argv."""

    @pytest.fixture
    def props(self, tmp_path: Path) -> dict[str, str]:
        security = BrokerSecurity(ensure_pki(tmp_path / "secrets"), SECRET)
        node = NodeConfig(node_id=1, port=19092, voters=((1, 19093),), data_dir=tmp_path / "d")
        return render_properties(node, security)

    def test_listeners(self, props: dict[str, str]) -> None:
        assert (
            "CLIENT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093",
            "CLIENT:SASL_SSL,CONTROLLER:SSL",
            "SCRAM-SHA-512",
            "required",
        ) == (
            props["listeners"],
            props["listener.security.protocol.map"],
            props["sasl.enabled.mechanisms"],
            props["listener.name.controller.ssl.client.auth"],
        )

    def test_authorizer(self, props: dict[str, str]) -> None:
        assert (
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "false",
            f"User:admin;User:{BROKER_CN}",
        ) == (
            props["authorizer.class.name"],
            props["allow.everyone.if.no.acl.found"],
            props["super.users"],
        )

    def test_pem_written_as_one_escaped_line(self, props: dict[str, str]) -> None:
        text = properties_text({"ssl.keystore.key": props["ssl.keystore.key"]})
        assert 1 == text.count("\n")
        assert text.startswith("ssl.keystore.key=-----BEGIN PRIVATE KEY-----\\n")

    def test_scram_argument_goes_to_an_argfile(self) -> None:
        text = argfile_text(["-cp", "/libs/*", "--add-scram", format_argument("nla", SECRET)])
        assert f"'SCRAM-SHA-512=[name=nla,password=\"{SECRET}\",iterations=8192]'\n" in text

    def test_new_passwords_differ_and_need_no_escaping(self) -> None:
        first, second = new_password(), new_password()
        assert first != second
        assert "" == first.strip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class TestDevPki:
    """The dev CA signs a broker certificate valid for 127.0.0.1 and localhost, made once."""

    def test_broker_certificate(self, tmp_path: Path) -> None:
        files = ensure_pki(tmp_path)
        cert = x509.load_pem_x509_certificate(files.broker_cert.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert (["localhost"], ["127.0.0.1"]) == (
            names.get_values_for_type(x509.DNSName),
            [str(ip) for ip in names.get_values_for_type(x509.IPAddress)],
        )
        ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        cert.verify_directly_issued_by(ca)

    def test_idempotent_and_private(self, tmp_path: Path) -> None:
        first = ensure_pki(tmp_path).ca_cert.read_bytes()
        assert first == ensure_pki(tmp_path).ca_cert.read_bytes()
        assert 0o600 == stat.S_IMODE((tmp_path / "ca.key").stat().st_mode)

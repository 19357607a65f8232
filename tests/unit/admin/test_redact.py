from pymosn.admin.redact import REDACTED, redact


def test_redacts_nested_secret_keys_and_leaves_the_rest():
    config = {
        "listeners": [{"tls": {"cert_chain": "PEM", "private_key": "KEY", "Password": "pw"}}],
        "secrets": ({"tls_certificate": {"private_key": {"inline_string": "KEY"}}},),
        "empty": {"private_key": ""},
    }
    out = redact(config)
    assert out["listeners"][0]["tls"] == {"cert_chain": "PEM", "private_key": REDACTED, "Password": REDACTED}
    assert out["secrets"][0]["tls_certificate"]["private_key"] == REDACTED
    assert out["empty"]["private_key"] == ""  # nothing to hide; shows the key is unset
    assert config["listeners"][0]["tls"]["private_key"] == "KEY"  # input untouched

"""Real processes: flower-superlink + one flower-supernode per site on 127.0.0.1 with TLS certificates made for the run;
the global model equals the in-process run's, and no process outlives the run (also when it fails)."""

from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest

pytest.importorskip("flwr", reason="the federated extra is not installed: pip install 'medrnn[federated]'")
from cryptography import x509  # noqa: E402
from flwr.app import MetricRecord  # noqa: E402

from medrnn.errors import ConfigError  # noqa: E402
from medrnn.federated import FederatedConfig  # noqa: E402
from medrnn.federated.certs import make_certificates  # noqa: E402
from medrnn.federated.apps import make_client_app, make_strategy, train_config  # noqa: E402
from medrnn.federated.deploy import deploy  # noqa: E402
from medrnn.federated.simulate import initial_model  # noqa: E402
from medrnn.federated.weights import to_arrays  # noqa: E402


def _flower_processes() -> list[str]:
    """Command lines of Flower's server-side and node processes now running (ours are the only ones here)."""
    out = subprocess.run(["ps", "-eo", "stat=,args="], capture_output=True, text=True).stdout.splitlines()
    return [line for line in out if ("flower-super" in line or "flwr-" in line) and not line.lstrip().startswith("Z")]


def test_certificates_made_for_the_run(tmp_path):
    certs = make_certificates(tmp_path)
    ca = x509.load_pem_x509_certificate(certs.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(certs.server_cert.read_bytes())
    assert server.issuer == ca.subject and ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert oct(certs.server_key.stat().st_mode & 0o777) == "0o600"


def test_secagg_is_refused_on_real_processes(icu_federation):
    with pytest.raises(ConfigError, match="--secagg and --central-dp-noise run in the simulation only"):
        deploy(icu_federation[0], FederatedConfig(sites="icutype", secagg=True))


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_superlink_and_supernodes_train_the_same_model_as_in_process(icu_federation, federation_file, inline_grid):
    fed, _ = icu_federation
    config = FederatedConfig(sites="icutype", rounds=1, min_site_train=20)
    assert not _flower_processes()
    start = time.monotonic()
    history = deploy(fed, config, say=lambda line: None, timeout_s=360)
    # the reference: the same ClientApp and strategy in this process (same sites, same seeds)
    strategy = make_strategy(config, len(fed.sites), lambda records, key: MetricRecord({}))
    reference = strategy.start(grid=inline_grid(make_client_app(str(federation_file), threads=1), len(fed.sites)),
                               initial_arrays=to_arrays(initial_model(fed)), num_rounds=1,
                               train_config=train_config(config, list(fed.pipeline.label_names)))  # fmt: skip
    assert [r["round"] for r in history.rounds] == [0, 1] and [s["site"] for s in history.rounds[1]["sites"]] == ["CSRU", "MICU", "SICU"]
    for key in reference.arrays.keys():  # every site trained the same way on its own process: the same global model
        np.testing.assert_allclose(history.final_arrays[key].numpy(), reference.arrays[key].numpy(), rtol=1e-5, atol=1e-6)
    time.sleep(1.0)
    assert not _flower_processes(), "a Flower process outlived the run"
    assert time.monotonic() - start < 400

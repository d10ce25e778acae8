"""The real `ents` package (2.3.12) against a running Loam, in ENTS compatibility mode: its
simulators upload every sensor type the way field devices do, and its BackendClient (the dirtviz
client) reads the values back."""

import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from ents.dirtviz.client import BackendClient
from ents.simulator.node import NodeSimulator, NodeSimulatorGeneric

PASSWORD = "correct-horse-battery-9"
START = datetime(2024, 3, 1, 0, 0, tzinfo=timezone.utc)
HOURS = 6


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _postgres_database():
    """Creates a throw-away database when LOAM_TEST_PG_URL names a server; returns (url, drop)."""
    admin = os.environ.get("LOAM_TEST_PG_URL")
    if not admin:
        pytest.skip("LOAM_TEST_PG_URL is not set")
    name = "loam_clients_" + uuid.uuid4().hex[:10]
    subprocess.run(["psql", admin, "-Atc", f'CREATE DATABASE "{name}"'], check=True, capture_output=True)
    base = admin.rsplit("/", 1)[0]

    def drop():
        subprocess.run(["psql", admin, "-Atc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], capture_output=True)

    return f"{base}/{name}", drop


@pytest.fixture(params=["sqlite", "postgres"])
def loam(request):
    binary = os.environ.get("LOAM_BIN")
    assert binary, "set LOAM_BIN to the loam binary"
    tmp = tempfile.mkdtemp(prefix="loam-clients-")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOAM_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(LOAM_LISTEN=f"127.0.0.1:{port}", LOAM_DATA_DIR=os.path.join(tmp, "data"),
               LOAM_JWT_SECRET=secrets.token_hex(32), LOAM_ENTS_COMPAT="true")
    drop = None
    if request.param == "postgres":
        env["DATABASE_URL"], drop = _postgres_database()
    log = open(os.path.join(tmp, "loam.log"), "wb")
    proc = subprocess.Popen([binary], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail(open(os.path.join(tmp, "loam.log")).read())
    yield base
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    if drop:
        drop()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def site(loam):
    """A person, a cell and a logger, made through the API as the dashboard would."""
    email = f"ents-{uuid.uuid4().hex[:8]}@example.test"
    assert requests.post(f"{loam}/api/auth/register", json={"email": email, "password": PASSWORD}).status_code == 201
    token = requests.post(f"{loam}/api/auth/login", json={"email": email, "password": PASSWORD}).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    cell = requests.post(f"{loam}/api/cell/", headers=auth, json={
        "name": f"ents-cell-{uuid.uuid4().hex[:6]}", "location": "plot", "latitude": 36.99, "longitude": -122.06,
        "archive": False, "userEmail": email}).json()["id"]
    logger = requests.post(f"{loam}/api/logger/", headers=auth, json={
        "name": f"ents-logger-{uuid.uuid4().hex[:6]}", "type": "ents", "userEmail": email}).json()["logger_id"]
    return loam, cell, logger


def _timestamps():
    return [int((START + timedelta(hours=h)).timestamp()) for h in range(HOURS)]


def _upload_all(sim, url):
    while sim.send_next(url):
        pass
    assert sim.metrics["failed_requests"] == 0, sim.responses
    assert sim.metrics["successful_requests"] > 0


def test_legacy_simulator_uploads_read_back_with_the_dirtviz_client(site):
    base, cell_id, logger = site
    sim = NodeSimulator(cell=cell_id, logger=logger, sensors=["power", "teros12", "teros21", "bme280"])
    for ts in _timestamps():
        sim.measure(ts)
    # The ents CLI's default URL has no trailing slash: it relies on the 308.
    _upload_all(sim, f"{base}/api/sensor")

    client = BackendClient(base_url=f"{base}/api/")  # builds //power/<id> URLs, as in production
    cell = client.cell_from_id(cell_id)
    assert cell is not None and cell.name.startswith("ents-cell-")
    end = START + timedelta(hours=HOURS)
    power = client.power_data(cell, START, end)
    assert len(power) == HOURS
    for row, ts in zip(power.itertuples(), _timestamps()):
        assert row.timestamp.timestamp() == ts
        assert row.v == pytest.approx(math.sin(ts) * 2 * 1e3)
        assert row.i == pytest.approx(math.sin(ts) * 0.5 * 1e6)
    teros = client.teros_data(cell, START, end)
    assert len(teros) == HOURS
    for row, ts in zip(teros.itertuples(), _timestamps()):
        vwc = math.sin(ts) * 0.05 + 0.2
        expected = vwc * 100 if 0 < vwc <= 1 else vwc
        assert row.vwc == pytest.approx(expected)
        assert row.raw_vwc == pytest.approx(math.sin(ts) * 300 + 2500)
        assert row.ec == int(math.sin(ts) * 4 + 15)
    temp = client.sensor_data(cell, "teros21", "temp", START, end)
    assert list(temp["data"]) == pytest.approx([math.sin(ts) * 5 + 25 for ts in _timestamps()])
    bme = client.sensor_data(cell, "bme280", "temperature", START, end)
    assert list(bme["data"]) == pytest.approx([int(math.sin(ts) * 50 + 250) / 100 for ts in _timestamps()])


def test_generic_simulator_uploads_read_back_with_the_dirtviz_client(site):
    base, cell_id, logger = site
    types = ["POWER_VOLTAGE", "POWER_CURRENT", "TEROS12_VWC_ADJ", "BME280_PRESSURE", "SEN0308_HUMIDITY"]
    sim = NodeSimulatorGeneric(cell=cell_id, logger=logger, sensors=types, _min=0, _max=10)
    for ts in _timestamps():
        sim.measure(ts)
    _upload_all(sim, f"{base}/api/sensor")

    client = BackendClient(base_url=f"{base}/api/")
    cell = client.cell_from_id(cell_id)
    end = START + timedelta(hours=HOURS)
    names = {"POWER_VOLTAGE": "Voltage", "POWER_CURRENT": "Current", "TEROS12_VWC_ADJ": "Volumetric Water Content",
             "BME280_PRESSURE": "Pressure", "SEN0308_HUMIDITY": "Humidity"}
    for kind, measurement in names.items():
        df = client.sensor_data(cell, kind, measurement, START, end)
        assert list(df["data"]) == pytest.approx([math.sin(ts) * 5 + 5 for ts in _timestamps()]), kind
        assert [t.timestamp() for t in df["timestamp"]] == _timestamps()

from __future__ import annotations

from typer.testing import CliRunner

from server.cli import app

runner = CliRunner()


def test_simulate_prints_a_summary_of_sent_and_acknowledged(mqtt_url, sim_site, fake_ingest) -> None:
    ingest = fake_ingest(ack=True)
    result = runner.invoke(app, ["simulate", "--no-register", "--mqtt", mqtt_url, "--site", sim_site,
                                 "--lamps", "10", "--interval", "60", "--duration", "300", "--speed", "100000",
                                 "--drain", "10"])
    assert result.exit_code == 0, result.output
    assert "Simulation summary" in result.output
    assert "Acknowledged" in result.output
    assert ingest.total() == 50


def test_simulate_reports_an_unreachable_broker(sim_site) -> None:
    result = runner.invoke(app, ["simulate", "--no-register", "--mqtt", "mqtt://127.0.0.1:9", "--site", sim_site,
                                 "--lamps", "1", "--duration", "60"])
    assert result.exit_code == 2
    assert "cannot reach the broker" in result.output


def test_demo_and_simulate_are_terang_commands() -> None:
    for command in ("simulate", "demo"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0
        assert "--lamps" in result.output

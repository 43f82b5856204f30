"""Sub-commands contributed to ``terang``: ``terang firmware build|keygen|sign|provision|run-sim``,
``terang flash`` and ``terang bench firmware``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

firmware_app = typer.Typer(help="Lamp controller firmware: build, sign, provision, simulate.", no_args_is_help=True)


@firmware_app.command("build")
def build_cmd(
    version: Annotated[str, typer.Option(help='Firmware version, "major.minor.patch".')] = "0.1.0",
    target: Annotated[str, typer.Option(help="esp32 (a pole) or sim (the unix-port simulation).")] = "esp32",
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("build/firmware"),
) -> None:
    """Compile the device code with mpy-cross into a bundle; print module sizes."""
    from rich.console import Console
    from rich.table import Table

    from firmware.device import codec
    from firmware.tools.build import BuildError, build

    try:
        codec.check_cmd({"id": 0, "op": "ota", "exp": codec.TS_MIN, "url": "http://x/", "size": 1,
                         "sha256": "0" * 64, "sig": "00", "ver": version})
    except codec.CodecError:
        typer.echo(f'error: version {version!r} must be "major.minor.patch" with parts 0..255', err=True)
        raise typer.Exit(2) from None
    try:
        result = build(out, version, target)
    except BuildError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    table = Table(title=f"terang firmware {version} ({target})")
    table.add_column("module")
    table.add_column("source B", justify="right")
    table.add_column(".mpy B", justify="right")
    for m in result.modules:
        table.add_row(m.name, str(m.source_bytes), str(m.mpy_bytes))
    table.add_row("total", str(sum(m.source_bytes for m in result.modules)),
                  str(sum(m.mpy_bytes for m in result.modules)), style="bold")
    Console().print(table)
    typer.echo(f"bundle: {result.bundle_path} ({result.bundle_bytes} bytes)")
    typer.echo(f"modules: {result.mpy_dir}")


@firmware_app.command("keygen")
def keygen_cmd(
    key: Annotated[Path, typer.Option(help="Where to write the private key (PEM). Keep it off the server.")],
    bits: Annotated[int, typer.Option(help="RSA key size; protocol v1 carries signatures of 2048-bit keys.")]
    = 2048,
) -> None:
    """Create the fleet's OTA signing key; print the public modulus for provisioning."""
    from firmware.tools.signing import SigningError, generate_key

    try:
        public = generate_key(key, bits)
    except SigningError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    pub = key.with_suffix(".pub")
    pub.write_text(public + "\n")
    typer.echo(f"private key: {key}\npublic key (give to terang firmware provision --ota-key-file): {pub}")


@firmware_app.command("sign")
def sign_cmd(
    image: Annotated[Path, typer.Argument(help="Bundle or image to sign.")],
    key: Annotated[Path, typer.Option(help="Fleet private key (PEM).")],
    version: Annotated[str, typer.Option(help="Version the image carries.")],
) -> None:
    """Sign an image for OTA; writes <image>.manifest.json (ver, size, sha256, sig)."""
    from firmware.tools.signing import SigningError, sign_file

    try:
        manifest, path = sign_file(image, version, key)
    except (OSError, SigningError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{path}\nsize {manifest.size}  sha256 {manifest.sha256}")


@firmware_app.command("provision")
def provision_cmd(
    lamp: Annotated[str, typer.Option(help="Lamp id (as on the pole's label).")],
    site: Annotated[str, typer.Option(help="Site id.")],
    broker: Annotated[str, typer.Option(help="mqtt://user:password@host:port (or mqtts://).")],
    lat: Annotated[float, typer.Option(help="Latitude of the pole.")],
    lon: Annotated[float, typer.Option(help="Longitude of the pole.")],
    out: Annotated[Path, typer.Option(help="device.json path or directory.")] = Path("device.json"),
    tz: Annotated[int, typer.Option(help="UTC offset in minutes (WIT: 540).")] = 540,
    rated_w: Annotated[float, typer.Option(help="Rated input power of the luminaire, W.")] = 100.0,
    wifi_ssid: Annotated[str | None, typer.Option(help="Wi-Fi network.")] = None,
    wifi_password: Annotated[str | None, typer.Option(help="Wi-Fi password.")] = None,
    apn: Annotated[str | None, typer.Option(help="4G APN (with a modem board).")] = None,
    cal_v: Annotated[float, typer.Option(help="Voltage calibration factor.")] = 1.0,
    cal_i: Annotated[float, typer.Option(help="Current calibration factor.")] = 1.0,
    cal_p: Annotated[float, typer.Option(help="Power calibration factor.")] = 1.0,
    ota_key_file: Annotated[Path | None, typer.Option(help="Fleet public key (from keygen).")] = None,
    ca: Annotated[Path | None, typer.Option(help="CA certificate (PEM) of an mqtts:// broker.")] = None,
    api: Annotated[str | None, typer.Option(help="Server URL; registers the lamp there.")] = None,
    token: Annotated[str | None, typer.Option(help="API token for --api.", envvar="TERANG_TOKEN")] = None,
    radio: Annotated[str, typer.Option(help="wifi, 4g or lora: the bearer, and the radio in the server's registry.")]
    = "wifi",
    lora_sf: Annotated[int, typer.Option(help="LoRa spreading factor 7..10 (with --radio lora).")] = 10,
    lora_devaddr: Annotated[str | None, typer.Option(help="LoRa DevAddr, 8 hex digits [default: from the lamp id].")]
    = None,
    lora_no_hello: Annotated[bool, typer.Option("--lora-no-hello",
                                                help="The gateway is given the DevAddr: no HELLO frame.")] = False,
    issue_credentials: Annotated[bool, typer.Option(
        "--issue-credentials", help="With --api: get the lamp's own MQTT account from the server and put it "
        "in the broker URL (then run `terang broker config --reload` on the broker host).")] = False,
) -> None:
    """Write one controller's device.json and register the lamp with the server."""
    from firmware.tools.provision import ProvisionError, make_config, register, write
    from firmware.tools.provision import issue_credentials as issue

    try:
        cfg = make_config(
            lamp=lamp, site=site, broker=broker, lat=lat, lon=lon, tz_min=tz, rated_w=rated_w,
            wifi_ssid=wifi_ssid, wifi_password=wifi_password, apn=apn, cal_v=cal_v, cal_i=cal_i, cal_p=cal_p,
            ota_key=ota_key_file.read_text().strip() if ota_key_file else None,
            ca_pem=ca.read_text() if ca else None,
            lora={"sf": lora_sf, "devaddr": lora_devaddr, "hello": not lora_no_hello} if radio == "lora" else None,
        )
        if issue_credentials and not api:
            raise ProvisionError("--issue-credentials needs --api (and a technician's --token)")
        if not issue_credentials:
            path = write(cfg, out)
            typer.echo(f"wrote {path}")
        if api:
            reg = register(api, cfg, radio=radio, token=token)
            typer.echo(f"lamp {lamp} {'registered' if reg.created else 'updated'} on {api}")
        if issue_credentials and api:
            cfg = issue(api, cfg, token=token)
            path = write(cfg, out)
            typer.echo(f"wrote {path} with the lamp's own MQTT credentials")
    except (ProvisionError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@firmware_app.command("run-sim")
def run_sim_cmd(
    lamp_id: Annotated[str, typer.Option(help="Lamp id.")],
    mqtt: Annotated[str, typer.Option(help="Broker URL, mqtt://host:port.")],
    state_dir: Annotated[Path | None, typer.Option(help="The controller's flash (kept between runs).")] = None,
    site: Annotated[str, typer.Option(help="Site id.")] = "timika",
    lat: Annotated[float, typer.Option(help="Latitude.")] = -4.55,
    lon: Annotated[float, typer.Option(help="Longitude.")] = 136.88,
    speed: Annotated[int, typer.Option(help="Time acceleration of the simulated world.")] = 1,
    image: Annotated[Path | None, typer.Option(help="Factory image dir (default: the source tree).")] = None,
    ota_key_file: Annotated[Path | None, typer.Option(help="Fleet public key, enables OTA.")] = None,
    heap: Annotated[str | None, typer.Option(help="MicroPython heap size, e.g. 256K.")] = None,
    lora_medium: Annotated[str | None, typer.Option(
        help="host:port of a simulated LoRa medium (terang lora medium): the lamp talks LoRa, not MQTT.")] = None,
    lora_sf: Annotated[int, typer.Option(help="LoRa spreading factor 7..10 (with --lora-medium).")] = 10,
) -> None:
    """Run the real firmware under the MicroPython unix port with the simulation HAL (Ctrl-C stops)."""
    import sys
    import tempfile
    import time

    from firmware.tools.provision import ProvisionError, make_config
    from firmware.tools.simrun import DEVICE_DIR, SimError, SimLamp, prepare

    state = state_dir or Path(tempfile.mkdtemp(prefix=f"terang-sim-{lamp_id}-"))
    try:
        cfg = make_config(lamp=lamp_id, site=site, broker=mqtt, lat=lat, lon=lon,
                          ota_key=ota_key_file.read_text().strip() if ota_key_file else None,
                          lora={"medium": lora_medium, "sf": lora_sf} if lora_medium else None)
        control = None if (state / "sim" / "control.json").exists() and speed == 1 else {"speed": speed}
        prepare(state, cfg, control=control)
        lamp = SimLamp(state, image or DEVICE_DIR, heap=heap, console=sys.stdout)
    except (ProvisionError, SimError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"lamp {lamp_id} on {mqtt}; state in {state}; control file {lamp.control_path}")
    lamp.start()
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        lamp.stop()


def flash_cmd(
    port: Annotated[str, typer.Option(help="Serial port of the controller, e.g. /dev/ttyUSB0.")],
    config: Annotated[Path, typer.Option(help="device.json from terang firmware provision.")],
    image: Annotated[Path | None, typer.Option(help="MicroPython firmware .bin for the board.")] = None,
    build_dir: Annotated[Path, typer.Option(help="Output of terang firmware build.")] = Path("build/firmware"),
    baud: Annotated[int, typer.Option(help="Flashing baud rate.")] = 460800,
    online_timeout: Annotated[float, typer.Option(help="Seconds to wait for the lamp to come online.")] = 180.0,
) -> None:
    """Flash a controller: MicroPython image, firmware, device.json; then wait for it to come online."""
    from rich.progress import BarColumn, Progress, TextColumn

    from firmware.tools.flashing import FlashError, FlashPlan, flash
    from firmware.tools.simrun import DEVICE_DIR

    plan = FlashPlan(port=port, image=image, mpy_dir=build_dir / "mpy-esp32", main_py=DEVICE_DIR / "main.py",
                     device_json=config, baud=baud)
    labels = {"detect": "find the controller", "image": "write MicroPython", "files": "copy firmware",
              "online": "wait until online"}
    with Progress(TextColumn("{task.description:<20}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%")) as bar:
        tasks = {k: bar.add_task(v, total=1.0, visible=k != "image" or image is not None) for k, v in labels.items()}

        def progress(step: str, fraction: float) -> None:
            bar.update(tasks[step], completed=fraction)

        try:
            state = flash(plan, progress, online_timeout)
        except FlashError as exc:
            bar.stop()
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"lamp online: firmware {state.get('fw')}, config {state.get('cv', '-')}")


def bench_firmware(
    out: Annotated[Path, typer.Option(help="JSON report path.")] = Path("reports/firmware.json"),
) -> None:
    """Firmware figures on the unix port: signature check, journal, steady-state heap."""
    from rich.console import Console
    from rich.table import Table

    from firmware.tools.bench import run_bench

    figures = run_bench()
    table = Table(title="terang firmware on the MicroPython unix port")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("unit")
    for name, (value, unit) in figures.items():
        table.add_row(name, f"{value:,.1f}" if isinstance(value, float) else str(value), unit)
    Console().print(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({k: {"value": v, "unit": u} for k, (v, u) in figures.items()}, indent=2) + "\n")
    typer.echo(f"report: {out}")


def register(app: typer.Typer) -> None:
    """Adds this part's commands to the root ``terang`` app."""
    app.add_typer(firmware_app, name="firmware")
    app.command("flash")(flash_cmd)


def register_bench(bench: typer.Typer) -> None:
    bench.command("firmware")(bench_firmware)

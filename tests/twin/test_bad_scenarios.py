"""The bad-scenario corpus (``tests/data/bad/``): every file fails cleanly.

Each file is one hostile or mistaken scenario (its first line says what is wrong). Run
through ``twin run`` as a user would, every one must end with exit status 2, one
``error:`` message naming the file and the field (and, for a weather CSV, the CSV and
its column), no traceback, and no run store written.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin import InputError
from twin.cli import app
from twin.scenario import MAX_FILE_BYTES, Scenario

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"

# file stem -> the field the message must name (then any further words it must hold)
CASES: dict[str, tuple[str, ...]] = {
    "air_background_daily_sd_huge": ("air.background_daily_sd", "2"),
    "air_background_hourly_negative": ("air.background_hourly.23", "0"),
    "air_background_hourly_short": ("air.background_hourly", "24 items"),
    "air_background_huge": ("air.background_ugm3.pm25", "1000"),
    "air_background_negative": ("air.background_ugm3.pm25",),
    "air_background_unmodelled": ("background_ugm3", "nox"),
    "air_emission_inf": ("air.emission_scale", "finite"),
    "air_emission_nan": ("air.emission_scale", "finite"),
    "air_species_empty": ("air.species",),
    "air_species_twice": ("species", "twice"),
    "air_species_unknown": ("air.species.0", "'pm25' or 'nox'"),
    "city_dataset_broken": ("city.dataset", "broken_dataset", "not valid TOML"),
    "city_dataset_no_manifest": ("city.dataset", "unknown dataset"),
    "city_dataset_number": ("city.dataset", "string"),
    "city_dataset_unknown": ("city.dataset", "atlantis", "known: "),
    "city_resolution_bool": ("city.resolution_m", "number"),
    "city_resolution_small": ("city.resolution_m", "10"),
    "city_resolution_text": ("city.resolution_m", "number"),
    "city_seed_bool": ("city.seed", "integer"),
    "city_seed_huge": ("city.seed", "4294967295"),
    "city_seed_negative": ("city.seed",),
    "city_store_bool": ("city.store", "string"),
    "city_store_is_a_file": ("city.store", "not a Zarr v3 store"),
    "city_store_long": ("city.store", "at most 4096"),
    "city_store_missing": ("city.store", "no_such_city.zarr", "no such file"),
    "city_store_not_a_store": ("city.store", "not a Zarr v3 store"),
    "city_unknown_key": ("city.resolution", "did you mean 'resolution_m'"),
    "deep_nesting_array": ("services.0.weights", "nested deeper than 8"),
    "deep_nesting_parser": ("key 'extra'", "nested too deeply"),
    "deep_nesting_tables": ("t0.t1.t2", "nested deeper than 8"),
    "device_bool": ("device", "'auto', 'cpu' or 'gpu'"),
    "device_tpu": ("device", "'auto', 'cpu' or 'gpu'"),
    "duplicate_key": ("key 'name'", "line 3"),
    "duration_bool": ("duration",),
    "duration_huge": ("duration", "3660 days"),
    "duration_inf": ("duration", "3660 days"),
    "duration_missing": ("duration", "required key is missing"),
    "duration_nan": ("duration",),
    "duration_negative": ("duration", "positive"),
    "duration_not_multiple": ("duration", "output_interval"),
    "duration_words": ("duration", "not a duration"),
    "energy_ev_text": ("energy.ev_share", "number"),
    "energy_pv_above_one": ("energy.pv_coverage", "1"),
    "name_ansi": ("name", "control characters", "\\x1b"),
    "name_empty": ("name", "at least 1"),
    "name_long": ("name", "at most 100"),
    "name_newline": ("name", "control characters"),
    "name_number": ("name", "string"),
    "output_not_multiple": ("output_interval", "multiple of step"),
    "output_text": ("output_interval", "not a duration"),
    "restart_not_multiple": ("restart_interval", "multiple of output_interval"),
    "sensors_error_above_one": ("sensors.detector_error",),
    "sensors_forecast_bool": ("sensors.forecast_hours", "integer"),
    "sensors_interval_zero": ("sensors.monitor_interval", "1 s to 1 day"),
    "sensors_noise": ("sensors.noise", "'gaussian' or 'none'"),
    "sensors_not_a_table": ("sensors", "must be a table"),
    "services_every_negative": ("services.0.every", "1 s to 1 day"),
    "services_name_ansi": ("services.0.name", "control characters"),
    "services_no_name": ("services.0.name", "missing"),
    "services_record_text": ("services.0.record_observations", "boolean"),
    "start_bool": ("start", "not a time"),
    "start_date_only": ("start", "a date alone"),
    "start_float": ("start", "not a time"),
    "start_naive": ("start", "+09:00", "got 2026-06-17T00:00:00)"),
    "start_text": ("start", "datetime"),
    "start_time_only": ("start", "a clock time alone"),
    "start_unix_int": ("start", "a number is not a time"),
    "start_year_1000": ("start", "year 1000"),
    "start_year_9999": ("start", "year 9999"),
    "step_fraction": ("step", "whole seconds"),
    "step_two_hours": ("step", "1 s to 1 h"),
    "step_zero": ("step", "1 s to 1 h"),
    "syntax_error": ("key 'start'", "line 3", "not valid TOML"),
    "too_many_outputs": ("output_interval", "200,000"),
    "traffic_cycle_too_short": ("signal_cycle_s", "green"),
    "traffic_demand_scale_bool": ("traffic.demand_scale", "number"),
    "traffic_demand_scale_text": ("traffic.demand_scale", "number"),
    "traffic_exit_text": ("traffic.exit_before_signal", "boolean"),
    "traffic_green_order": ("max_green_s", "min_green_s"),
    "traffic_noise": ("traffic.demand_noise", "'poisson'"),
    "traffic_route_interval_tiny": ("traffic.route_interval_s", "1"),
    "traffic_seed_text": ("traffic.seed", "integer"),
    "traffic_signal_control": ("traffic.signal_control", "'actuated'"),
    "traffic_signal_nodes_key": ("traffic.signal_control_nodes", "integer"),
    "traffic_signal_phases_negative": ("traffic.signal_phases.12",),
    "traffic_trips_huge": ("traffic.trips_per_day", "100000000"),
    "traffic_trips_zero": ("traffic.trips_per_day",),
    "unknown_key": ("durration", "did you mean 'duration'"),
    "unknown_nested_key": ("traffic.demand_scal", "did you mean 'demand_scale'"),
    "unknown_section": ("trafic", "did you mean 'traffic'"),
    "weather_irregular": ("weather.source", "irregular.csv", "column time", "rows 3"),
    "weather_missing_column": ("weather.source", "missing_column.csv", "cloud_fraction"),
    "weather_no_timezone": ("weather.source", "no_timezone.csv", "column time", "timezone"),
    "weather_non_numeric": ("weather.source", "non_numeric.csv", "column air_temperature"),
    "weather_not_utf8": ("weather.source", "not_utf8.csv", "UTF-8"),
    "weather_nul_bytes": ("weather.source", "nul_bytes.csv", "column wind_from_direction"),
    "weather_one_row": ("weather.source", "one_row.csv", "2 rows"),
    "weather_out_of_range": ("weather.source", "out_of_range.csv", "column wind_speed"),
    "weather_seed_float": ("weather.seed", "integer"),
    "weather_source_folder": ("weather.source", "not a regular file"),
    "weather_source_missing": ("weather.source", "no_such_file.csv", "does not exist"),
    "weather_source_number": ("weather.source", "string"),
    "weather_too_short": ("weather.source", "too_short.csv", "covers"),
}

runner = CliRunner()


def test_every_file_is_a_case():
    files = {p.stem for p in BAD.glob("*.toml")}
    assert files == set(CASES) and len(files) >= 60


@pytest.mark.parametrize("stem", sorted(CASES))
def test_bad_scenario_fails_cleanly(stem, tmp_path):
    path = BAD / f"{stem}.toml"
    store = tmp_path / "run.zarr"
    result = runner.invoke(app, ["run", str(path), "-o", str(store), "--no-progress"])
    out = result.output
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), out
    assert "Traceback" not in out and out.startswith(f"error: {path}"), out
    for word in CASES[stem]:
        assert word in out, (word, out)
    assert "\x1b" not in out  # terminal escapes from the file never reach the terminal
    assert not store.exists()


def test_corpus_in_a_real_process(tmp_path):
    """A handful through ``python -m twin.cli``: the exit status and stderr a shell sees."""
    for stem in ("start_unix_int", "weather_nul_bytes", "deep_nesting_parser", "name_ansi"):
        proc = subprocess.run(
            [sys.executable, "-m", "twin.cli", "run", str(BAD / f"{stem}.toml"), "-o",
             str(tmp_path / "r.zarr"), "--no-progress"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stdout + proc.stderr and CASES[stem][0] in proc.stdout


def test_bom_is_accepted(tmp_path):
    good = (BAD / "unknown_key.toml").read_text().replace('durration = "2h"\n', "")
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + good.encode())
    assert Scenario.from_toml(path).name == "bad"


def test_huge_file_and_fifo_refused(tmp_path):
    huge = tmp_path / "huge.toml"
    huge.write_text('name = "' + "x" * MAX_FILE_BYTES + '"\n')
    with pytest.raises(InputError, match="larger than 1024 KiB"):
        Scenario.from_toml(huge)
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        Scenario.from_toml(fifo)  # would block forever if opened

"""The run configuration: a TOML file, validated into frozen dataclasses.

Paths are relative to the configuration file. Every error names the file and the key. Schema::

    [[course]]                      # oldest first; the newest is the reference frame unless
    name = "prior"                  # another course says reference = true
    dicom = "exports/2023-01"       # an export folder (CT series, RTDOSE, RTPLAN, RTSTRUCT) ...
    # ct = "ct/"  dose = "rd.dcm"  plan = "rp.dcm"  structures = "rs.dcm"   ... or explicit files
    fractions = 35                  # overrides the plan's
    date = 2023-03-01               # end of the course (TOML date); overrides the plan's dates
    interval_months = 26            # or the interval to the reference course, given directly
    rbe = 1.0                       # constant RBE for a physical dose (1: photons)
    dvf = "field.mha"               # a given displacement field (fixed = reference; MHA/NRRD/NIfTI or DICOM REG),
                                    # skips registration; resampled onto the reference CT grid if on another
    rigid_start = "REG.dcm"         # a DICOM spatial REG (prior frame -> reference frame) that starts elastix;
                                    # without it, one found in either course's export folder is used

    [registration]
    preset = "accurate"             # fast | accurate; or parameter_files = ["a.txt", "b.txt"]
    dvf = "field.mha"               # with a single prior course: the same as the course key

    [warp]
    method = "mass"                 # mass | direct
    subsamples = 2

    [radiobiology]
    alpha_beta_default = 3.0
    reference_dose_per_fraction = 2.0
    alpha_beta_priority = "lowest"  # lowest | highest | [names]
    [radiobiology.alpha_beta]
    SpinalCord = 2.0

    [recovery.SpinalCord]           # one table per structure (models: accumulate.recovery_model)
    model = "table"
    months = [0, 6, 12]
    recovered = [0.0, 0.25, 0.5]

    [constraints]
    set = "hn-reirradiation"        # a shipped set, a path to a TOML file, or inline [[constraints.constraint]]

    [structures.rename]             # this case's structure name -> the name the settings use
    "Cord PRV0" = "SpinalCord"

    [output]
    dir = "out"

    [run]
    backend = "auto"

Everything but ``[[course]]`` is the *settings*: a service profile or a cohort's base
configuration is a settings file, and :func:`config_with_courses` joins it to courses found
elsewhere (a DICOM receiver's case, a cohort manifest row).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError, InputError
from .evaluation.constraints import ConstraintSet, load_constraint_set, parse_constraint_set
from .radiobiology.recovery import RecoveryModel, recovery_model

SECTIONS = ("course", "registration", "warp", "radiobiology", "recovery", "constraints", "structures", "output", "run")
COURSE_KEYS = (
    "name",
    "dicom",
    "ct",
    "dose",
    "plan",
    "structures",
    "fractions",
    "date",
    "interval_months",
    "rbe",
    "dvf",
    "rigid_start",
    "reference",
)
EXPLICIT_FILES = ("ct", "dose", "plan", "structures")
PRESETS = ("fast", "accurate")
BACKENDS = ("auto", "numpy", "numba", "cupy")


@dataclass(frozen=True)
class CourseConfig:
    name: str
    dicom: Path | None = None
    ct: Path | None = None
    dose: Path | None = None
    plan: Path | None = None
    structures: Path | None = None
    fractions: float | None = None
    date: dt.date | None = None
    interval_months: float | None = None
    rbe: float = 1.0
    dvf: Path | None = None
    rigid_start: Path | None = None
    reference: bool = False


@dataclass(frozen=True)
class RegistrationConfig:
    preset: str = "accurate"
    parameter_files: tuple[Path, ...] = ()


@dataclass(frozen=True)
class RunConfig:
    """A validated run configuration (see the module docstring for the schema)."""

    source: Path
    courses: tuple[CourseConfig, ...]
    reference_index: int
    registration: RegistrationConfig = field(default_factory=RegistrationConfig)
    warp_method: str = "mass"
    subsamples: int = 2
    alpha_beta_default: float = 3.0
    alpha_beta: Mapping[str, float] = field(default_factory=dict)
    alpha_beta_priority: str | tuple[str, ...] = "lowest"
    reference_dose_per_fraction: float = 2.0
    recovery: Mapping[str, RecoveryModel] = field(default_factory=dict)
    constraints: ConstraintSet | None = None
    structure_rename: Mapping[str, str] = field(default_factory=dict)
    output_dir: Path = Path("out")
    backend: str = "auto"

    @property
    def reference(self) -> CourseConfig:
        return self.courses[self.reference_index]


class TableReader:
    """Typed access to one table of the TOML file, with errors naming the file and the key."""

    def __init__(self, table: Mapping[str, Any], where: str, allowed: tuple[str, ...]) -> None:
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where} must be a table, got {type(table).__name__}")
        unknown = sorted(set(table) - set(allowed))
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {list(allowed)}")
        self.table, self.where = table, where

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise ConfigError(f"{self.where}.{key} must be a number, got {value!r}")
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise ConfigError(f"{self.where}.{key} must be a {names}, got {value!r}")
        return value

    def number(self, key: str, default: float | None = None, *, minimum: float = 0.0, strict: bool = True) -> float | None:
        value = self.get(key, (int, float), default)
        if value is None:
            return None
        if value < minimum or (strict and value == minimum):
            raise ConfigError(f"{self.where}.{key} must be {'>' if strict else '>='} {minimum:g}, got {value!r}")
        return float(value)

    def path(self, key: str, base: Path) -> Path | None:
        value = self.get(key, str)
        return None if value is None else (base / value).resolve()

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            raise ConfigError(f"{self.where}.{key} must be one of {list(choices)}, got {value!r}")
        return value


def _course(table: Mapping[str, Any], index: int, base: Path, where: str) -> CourseConfig:
    name = table.get("name") if isinstance(table, Mapping) else None
    label = f"course '{name}'" if isinstance(name, str) else f"course {index + 1}"
    r = TableReader(table, f"{where}: {label}", COURSE_KEYS)
    name = r.get("name", str) or f"course{index + 1}"
    paths = {key: r.path(key, base) for key in ("dicom", *EXPLICIT_FILES, "dvf", "rigid_start")}
    if paths["dicom"] is None and paths["dose"] is None:
        raise ConfigError(f"{r.where}: give 'dicom' (an export folder) or at least 'dose' (and ct, plan, structures)")
    if paths["dicom"] is not None and any(paths[k] for k in EXPLICIT_FILES):
        raise ConfigError(f"{r.where}: give either 'dicom' or explicit files ({', '.join(EXPLICIT_FILES)}), not both")
    for key, path in paths.items():
        if path is not None and not path.exists():
            raise ConfigError(f"{r.where}.{key}: {path} does not exist")
    date = r.get("date", dt.date)
    if isinstance(date, dt.datetime):
        date = date.date()
    return CourseConfig(
        name=name,
        fractions=r.number("fractions"),
        date=date,
        interval_months=r.number("interval_months", minimum=0.0, strict=False),
        rbe=r.number("rbe", 1.0),
        reference=r.get("reference", bool, False),
        **paths,
    )


def _courses(top: TableReader, where: str, base: Path, shared_dvf: Path | None) -> tuple[tuple[CourseConfig, ...], int]:
    """The [[course]] tables (oldest first) and the index of the reference course."""
    raw_courses = top.get("course", list)
    if not raw_courses:
        raise ConfigError(f"{where}: needs at least two [[course]] tables (the prior course(s), oldest first, then the newest)")
    courses = tuple(_course(c, i, base, where) for i, c in enumerate(raw_courses))
    if len(courses) < 2:
        raise ConfigError(f"{where}: needs at least two [[course]] tables, found {len(courses)}")
    names = [c.name for c in courses]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: course names must be unique, got {names}")
    flagged = [i for i, c in enumerate(courses) if c.reference]
    if len(flagged) > 1:
        raise ConfigError(f"{where}: only one course can have reference = true ({', '.join(names[i] for i in flagged)} do)")
    reference_index = flagged[0] if flagged else len(courses) - 1
    if shared_dvf is not None:
        priors = [i for i in range(len(courses)) if i != reference_index]
        if len(priors) != 1:
            raise ConfigError(
                f"{where}: [registration].dvf needs exactly one prior course; with several, give 'dvf' in each [[course]]"
            )
        courses = tuple(c if i != priors[0] else replace(c, dvf=shared_dvf) for i, c in enumerate(courses))
    return courses, reference_index


def parse_settings(table: Mapping[str, Any], source: Path) -> dict[str, Any]:
    """Validate every section but [[course]]; returns the RunConfig fields they set.

    ``source`` is the file the table came from: relative paths are resolved against its folder.
    """
    where = str(source)
    base = source.parent
    top = TableReader(table, where, SECTIONS)
    reg = TableReader(top.get("registration", dict, {}), f"{where}: [registration]", ("preset", "parameter_files", "dvf"))
    files = tuple((base / p).resolve() for p in reg.get("parameter_files", list, []))
    missing = [str(p) for p in files if not p.exists()]
    if missing:
        raise ConfigError(f"{where}: [registration].parameter_files: not found: {missing}")
    shared_dvf = reg.path("dvf", base)
    if shared_dvf is not None and not shared_dvf.exists():
        raise ConfigError(f"{where}: [registration].dvf: {shared_dvf} does not exist")

    warp = TableReader(top.get("warp", dict, {}), f"{where}: [warp]", ("method", "subsamples"))
    radio = TableReader(
        top.get("radiobiology", dict, {}),
        f"{where}: [radiobiology]",
        ("alpha_beta_default", "reference_dose_per_fraction", "alpha_beta", "alpha_beta_priority"),
    )
    alpha_beta = {}
    ab_table = TableReader(
        radio.get("alpha_beta", dict, {}), f"{where}: [radiobiology.alpha_beta]", tuple(radio.table.get("alpha_beta", {}))
    )
    for name in ab_table.table:
        alpha_beta[name] = ab_table.number(name)
    priority = radio.get("alpha_beta_priority", (str, list), "lowest")
    recovery = {}
    for name, spec in top.get("recovery", dict, {}).items():
        try:
            recovery[name] = recovery_model(spec)
        except InputError as exc:
            raise ConfigError(f"{where}: [recovery.{name}]: {exc}") from None

    constraints = None
    cons = top.get("constraints", dict)
    if cons is not None:
        cr = TableReader(cons, f"{where}: [constraints]", ("set", "constraint", "name", "description"))
        if "set" in cons and "constraint" in cons:
            raise ConfigError(f"{where}: [constraints]: give 'set' or inline [[constraints.constraint]] tables, not both")
        set_name = cr.get("set", str)
        if set_name is not None:
            candidate = base / set_name
            constraints = load_constraint_set(candidate if set_name.endswith(".toml") else set_name)
        else:
            constraints = parse_constraint_set(cons, f"{where}: [constraints]")

    structures = TableReader(top.get("structures", dict, {}), f"{where}: [structures]", ("rename",))
    rename_table = structures.get("rename", dict, {})
    rename = TableReader(rename_table, f"{where}: [structures.rename]", tuple(rename_table))
    structure_rename = {old: rename.get(old, str) for old in rename_table}

    output = TableReader(top.get("output", dict, {}), f"{where}: [output]", ("dir",))
    run = TableReader(top.get("run", dict, {}), f"{where}: [run]", ("backend",))
    subsamples = warp.get("subsamples", int, 2)
    if subsamples < 1:
        raise ConfigError(f"{where}: [warp].subsamples must be >= 1, got {subsamples}")
    return {
        "source": source,
        "registration": RegistrationConfig(reg.choice("preset", PRESETS, "accurate"), files),
        "shared_dvf": shared_dvf,
        "warp_method": warp.choice("method", ("mass", "direct"), "mass"),
        "subsamples": subsamples,
        "alpha_beta_default": radio.number("alpha_beta_default", 3.0),
        "alpha_beta": alpha_beta,
        "alpha_beta_priority": priority if isinstance(priority, str) else tuple(priority),
        "reference_dose_per_fraction": radio.number("reference_dose_per_fraction", 2.0, strict=False),
        "recovery": recovery,
        "constraints": constraints,
        "structure_rename": structure_rename,
        "output_dir": output.path("dir", base) or (base / "out").resolve(),
        "backend": run.choice("backend", BACKENDS, "auto"),
    }


def parse_config(table: Mapping[str, Any], source: Path) -> RunConfig:
    """A RunConfig from a parsed TOML table; ``source`` is the file (paths are relative to its folder)."""
    settings = parse_settings(table, source)
    shared_dvf = settings.pop("shared_dvf")
    courses, reference_index = _courses(TableReader(table, str(source), SECTIONS), str(source), source.parent, shared_dvf)
    return RunConfig(courses=courses, reference_index=reference_index, **settings)


def read_toml(path: str | Path) -> dict[str, Any]:
    """The table of a TOML file; a missing or malformed file is a ConfigError naming it."""
    source = Path(path)
    try:
        return tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {source} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None


def config_with_courses(settings: Mapping[str, Any], courses: list[Mapping[str, Any]], source: Path) -> RunConfig:
    """Join a settings table (a run configuration without [[course]]) to course tables.

    ``courses`` are [[course]] tables (see the module docstring), oldest first; their paths
    may be absolute. ``source`` names where the settings came from, for messages and relative
    paths. Any [[course]] in ``settings`` is replaced.
    """
    return parse_config({**settings, "course": list(courses)}, source)


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a run configuration file."""
    source = Path(path).resolve()
    return parse_config(read_toml(source), source)

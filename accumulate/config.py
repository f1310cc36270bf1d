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
    dvf_inverse = "back.mha"        # with dvf: the same registration the other way round (fixed = this course's
                                    # CT), for the inverse-consistency check and [uncertainty] method
    rigid_start = "REG.dcm"         # a DICOM spatial REG (prior frame -> reference frame) that starts elastix;
                                    # without it, one found in either course's export folder is used
    registration = "none"           # this course only: none (identity field) | rigid | fast | accurate; default:
                                    # the identity when the course shares the reference's frame and CT series,
                                    # else [registration]

    [registration]
    preset = "accurate"             # fast | accurate | rigid | none; or parameter_files = ["a.txt", "b.txt"]
    dvf = "field.mha"               # with a single prior course: the same as the course key
    inverse_consistency = false     # also register reference -> prior for the inverse-consistency check (doubles
                                    # the elastix time of each registered course)
    jacobian_map = false            # write registration/<course>/jacobian.mha (float32, fixed grid)
    [registration.checks]           # thresholds of the registration checks (accumulate.registration.Tolerances);
    jacobian_min = 0.5              # a failed check makes the run "needs review" (exit 13)
    jacobian_max = 2.0
    inverse_consistency_p95_mm = 2.0
    dice_min = 0.8
    uncertainty_p95_mm = 3.0

    [warp]
    method = "mass"                 # mass | direct
    subsamples = 1

    [radiobiology]
    alpha_beta_default = 3.0
    reference_dose_per_fraction = 2.0
    alpha_beta_priority = "lowest"  # lowest | highest | [names]
    overlaps = "shared"             # shared: a voxel in several structures takes one alpha/beta (priority) and the
                                    # least recovery; own: each structure's metrics use its own parameters
    [radiobiology.alpha_beta]
    SpinalCord = 2.0

    [recovery.SpinalCord]           # one table per structure (models: accumulate.recovery_model)
    model = "table"
    months = [0, 6, 12]
    recovered = [0.0, 0.25, 0.5]

    [constraints]
    set = "hn-reirradiation"        # a shipped set, a path to a TOML file, or inline [[constraints.constraint]];
    include = ["ecog-ea3191"]       # more sets; exclude = ["<set>.<id>"], [[constraints.override]] (id = "<set>.<id>",
                                    # the fields to change, source), one_side_may_exceed = ["OpticNerve"]
                                    # (see accumulate.evaluation.constraints)

    [structures.rename]             # this case's structure name -> the name the settings use
    "Cord PRV0" = "SpinalCord"

    [dvh]
    method = "structure"            # structure: each structure sampled on its own fine grid (accumulate.evaluation.
                                    # sampling), doses interpolated at the samples; grid: voxel centres of the dose grid
    end_caps = "full"               # full: the end contours' slabs reach half a plane spacing beyond; half: they stop
    # resolution_mm = 0.5           # default: from each structure's size (0.2-1 mm, coarser for large organs)

    [uncertainty]                   # the registration's uncertainty carried into the dose and verdicts
    method = "none"                 # none | shift: the prior dose shifted within a sphere | inverse-consistency:
                                    # within a per-voxel radius from the registration's inverse consistency
                                    # (accumulate.uncertainty; registers both ways)
    radius_mm = 3.0                 # shift: the sphere's radius (3 mm: the search radius of clinical review tools)
    minimum_mm = 2.0                # inverse-consistency: radius = max(minimum_mm, scale x inverse-consistency
    scale = 2.0                     # error) per voxel

    [output]
    dir = "out"

    [report]
    pdf = true                      # report.pdf beside report.html (headless Chromium); the environment
                                    # variable ACCUMULATE_PDF=0 switches it off too

    [run]
    backend = "auto"

    [accept]                        # unusual values that are intended (see accumulate.plausibility); each is
    "course.prior.interval_months" = 700   # listed in the summary and the report as an override
    absent_structures = ["Chiasm"]  # constraints on these may be absent from a case ("all": any)
    patient_ids = ["123", "123-B"]  # several PatientIDs that are the same patient (a renamed ID)
    unverified_identity = true      # accept inputs without DICOM identity (research formats)

Everything but ``[[course]]`` is the *settings*: a service profile or a cohort's base
configuration is a settings file, and :func:`config_with_courses` joins it to courses found
elsewhere (a DICOM receiver's case, a cohort manifest row).
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .backends import CHOICES
from .errors import AccumulateError, ConfigError, InputError
from .evaluation.constraints import COMPOSE_KEYS, ConstraintSet, check_limits, compose_constraints
from .io import looks_like_dicom
from .names import normalise
from .plausibility import Checks, Finding
from .radiobiology.recovery import RecoveryModel, recovery_model
from .uncertainty import DEFAULT_MINIMUM_MM, DEFAULT_SCALE

SECTIONS = (
    "course",
    "registration",
    "warp",
    "radiobiology",
    "recovery",
    "constraints",
    "structures",
    "dvh",
    "uncertainty",
    "output",
    "report",
    "run",
    "accept",
)
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
    "dvf_inverse",
    "rigid_start",
    "registration",
    "reference",
)
EXPLICIT_FILES = ("ct", "dose", "plan", "structures")
PRESETS = ("fast", "accurate")
#: Registration modes of a prior course: no registration (identity field), rigid only, or a deformable preset.
REGISTRATIONS = ("none", "rigid", *PRESETS)
#: What ``[run] backend`` accepts: the one list of :mod:`accumulate.backends`.
BACKENDS = CHOICES
OVERLAPS = ("shared", "own")
DVH_METHODS = ("structure", "grid")
#: [uncertainty] methods: none, the shift bound of one radius, or a per-voxel radius from inverse consistency.
UNCERTAINTY_METHODS = ("none", "shift", "inverse-consistency")
#: The keys of ``[uncertainty]`` each method reads beside ``method``.
UNCERTAINTY_KEYS = {"none": (), "shift": ("radius_mm",), "inverse-consistency": ("minimum_mm", "scale")}
#: [accept] keys that are not values of a check.
ACCEPT_FLAGS = ("absent_structures", "patient_ids", "unverified_identity")


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
    dvf_inverse: Path | None = None
    rigid_start: Path | None = None
    registration: str | None = None
    reference: bool = False


@dataclass(frozen=True)
class RegistrationConfig:
    """``[registration]``: ``checks`` holds the thresholds given in ``[registration.checks]`` (the rest default)."""

    preset: str = "accurate"
    parameter_files: tuple[Path, ...] = ()
    inverse_consistency: bool = False
    jacobian_map: bool = False
    checks: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RunConfig:
    """A validated run configuration (see the module docstring for the schema)."""

    source: Path
    courses: tuple[CourseConfig, ...]
    reference_index: int
    registration: RegistrationConfig = field(default_factory=RegistrationConfig)
    warp_method: str = "mass"
    subsamples: int = 1
    alpha_beta_default: float = 3.0
    alpha_beta: Mapping[str, float] = field(default_factory=dict)
    alpha_beta_priority: str | tuple[str, ...] = "lowest"
    reference_dose_per_fraction: float = 2.0
    overlaps: str = "shared"
    dvh_method: str = "structure"
    dvh_end_caps: str = "full"
    dvh_resolution_mm: float | None = None
    uncertainty_method: str = "none"
    uncertainty_radius_mm: float = 3.0
    uncertainty_minimum_mm: float = DEFAULT_MINIMUM_MM
    uncertainty_scale: float = DEFAULT_SCALE
    recovery: Mapping[str, RecoveryModel] = field(default_factory=dict)
    constraints: ConstraintSet | None = None
    structure_rename: Mapping[str, str] = field(default_factory=dict)
    output_dir: Path = Path("out")
    report_pdf: bool = True
    backend: str = "auto"
    accept: Mapping[str, Any] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()

    @property
    def reference(self) -> CourseConfig:
        return self.courses[self.reference_index]

    def accepts_absent(self, name: str) -> bool:
        """Whether ``[accept] absent_structures`` allows the structure ``name`` to be absent from a case."""
        absent = self.accept.get("absent_structures", [])
        return absent == "all" or normalise(name) in {normalise(n) for n in absent}


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
        if not math.isfinite(value):
            raise ConfigError(f"{self.where}.{key} must be a finite number, got {value!r}")
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
    paths = {key: r.path(key, base) for key in ("dicom", *EXPLICIT_FILES, "dvf", "dvf_inverse", "rigid_start")}
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
    registration = r.choice("registration", REGISTRATIONS, None) if "registration" in r.table else None
    if registration is not None and paths["dvf"] is not None:
        raise ConfigError(f"{r.where}: give 'dvf' (a given field) or 'registration', not both")
    return CourseConfig(
        name=name,
        fractions=r.number("fractions"),
        date=date,
        interval_months=r.number("interval_months", minimum=0.0, strict=False),
        rbe=r.number("rbe", 1.0),
        registration=registration,
        reference=r.get("reference", bool, False),
        **paths,
    )


def check_course(course: CourseConfig, checks: Checks) -> None:
    """Plausibility of the numbers a [[course]] table states (fractions, interval, RBE)."""
    key = f"course.{course.name}"
    checks.number(f"{key}.fractions", course.fractions, "fractions")
    if course.fractions is not None and not float(course.fractions).is_integer():
        checks.unusual(f"{key}.fractions", course.fractions, f"{key}.fractions = {course.fractions:g} is not a whole number")
    checks.number(f"{key}.interval_months", course.interval_months, "interval_months")
    if course.rbe != 1.0:
        checks.number(f"{key}.rbe", course.rbe, "rbe")


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
    for course in courses:
        if course.dvf_inverse is not None and course.dvf is None:
            raise ConfigError(
                f"{where}: course '{course.name}': dvf_inverse is a given field's other direction: give the field as 'dvf' too"
            )
    return courses, reference_index


def _accept(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The [accept] table: {key: the intended value}, and the flags of :data:`ACCEPT_FLAGS`, checked for type."""
    accept = dict(TableReader(table, f"{where}: [accept]", tuple(table)).table)
    absent = accept.get("absent_structures", [])
    if absent != "all" and not (isinstance(absent, list) and all(isinstance(n, str) for n in absent)):
        raise ConfigError(f'{where}: [accept].absent_structures must be a list of structure names or "all", got {absent!r}')
    ids = accept.get("patient_ids", [])
    if not (isinstance(ids, list) and all(isinstance(n, str) and n for n in ids)):
        raise ConfigError(f"{where}: [accept].patient_ids must be a list of PatientIDs (strings), got {ids!r}")
    if not isinstance(accept.get("unverified_identity", False), bool):
        raise ConfigError(f"{where}: [accept].unverified_identity must be true or false, got {accept['unverified_identity']!r}")
    return accept


def _recovery(table: Mapping[str, Any], where: str) -> dict[str, RecoveryModel]:
    recovery = {}
    for name, spec in table.items():
        try:
            recovery[name] = recovery_model(spec)
        except (InputError, ValueError, TypeError) as exc:
            raise ConfigError(f"{where}: [recovery.{name}]: {exc}") from None
    return recovery


def _constraints(cons: Mapping[str, Any] | None, where: str, base: Path) -> ConstraintSet | None:
    if cons is None:
        return None
    TableReader(cons, f"{where}: [constraints]", COMPOSE_KEYS)
    return compose_constraints(cons, f"{where}: [constraints]", base)


def check_settings(settings: Mapping[str, Any], checks: Checks) -> None:
    """Plausibility of the numbers in the settings: alpha/beta values, EQDx's x, the constraints' limits."""
    checks.number("radiobiology.alpha_beta_default", settings["alpha_beta_default"], "alpha_beta")
    for name, value in settings["alpha_beta"].items():
        checks.number(f"radiobiology.alpha_beta.{name}", value, "alpha_beta", what=f"alpha/beta of {name}")
    x = settings["reference_dose_per_fraction"]
    if x != 0:  # 0: BED, legitimate
        checks.number("radiobiology.reference_dose_per_fraction", x, "reference_dose_per_fraction")
    if settings["constraints"] is not None:
        check_limits(settings["constraints"], checks)


def _registration_checks(table: Mapping[str, Any], where: str) -> dict[str, float]:
    """``[registration.checks]``: thresholds of :class:`accumulate.registration.Tolerances`, checked together."""
    from .registration import Tolerances

    keys = tuple(Tolerances.__dataclass_fields__)
    reader = TableReader(table, where, keys)
    values = {key: reader.number(key) for key in table}
    try:
        Tolerances(**values)
    except AccumulateError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return values


def _uncertainty(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``[uncertainty]``: the method and the keys it reads (a key of another method is a mistake, named)."""
    reader = TableReader(table, where, ("method", *dict.fromkeys(k for keys in UNCERTAINTY_KEYS.values() for k in keys)))
    method = reader.choice("method", UNCERTAINTY_METHODS, "none")
    foreign = sorted(set(table) - {"method", *UNCERTAINTY_KEYS[method]})
    if foreign:
        raise ConfigError(
            f"{where}: {foreign} do not apply to method = {method!r}, which reads "
            f"{list(UNCERTAINTY_KEYS[method]) or 'no other key'}"
        )
    return {
        "uncertainty_method": method,
        "uncertainty_radius_mm": reader.number("radius_mm", 3.0, strict=False),
        "uncertainty_minimum_mm": reader.number("minimum_mm", DEFAULT_MINIMUM_MM, strict=False),
        "uncertainty_scale": reader.number("scale", DEFAULT_SCALE, strict=False),
    }


def _inverse_consistency(reg: TableReader, uncertainty: Mapping[str, Any], where: str) -> bool:
    """``[registration] inverse_consistency``: on when asked, and implied by ``[uncertainty] method = "inverse-consistency"``."""
    asked = reg.get("inverse_consistency", bool, None)
    if uncertainty.get("method") != "inverse-consistency":
        return bool(asked)
    if asked is False:
        raise ConfigError(
            f'{where}: [uncertainty] method = "inverse-consistency" registers both ways, but [registration] '
            "inverse_consistency = false: remove that line or choose another [uncertainty] method"
        )
    return True


def parse_settings(table: Mapping[str, Any], source: Path, checks: Checks | None = None) -> dict[str, Any]:
    """Validate every section but [[course]]; returns the RunConfig fields they set.

    ``source`` is the file the table came from: relative paths are resolved against its folder.
    The plausibility of the values (:mod:`accumulate.plausibility`) is checked into ``checks``;
    without ``checks`` a refused value raises a ConfigError listing every refusal.
    """
    where = str(source)
    base = source.parent
    top = TableReader(table, where, SECTIONS)
    reg = TableReader(
        top.get("registration", dict, {}),
        f"{where}: [registration]",
        ("preset", "parameter_files", "dvf", "inverse_consistency", "jacobian_map", "checks"),
    )
    registration_checks = _registration_checks(reg.get("checks", dict, {}), f"{where}: [registration.checks]")
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
        ("alpha_beta_default", "reference_dose_per_fraction", "alpha_beta", "alpha_beta_priority", "overlaps"),
    )
    ab_table = TableReader(
        radio.get("alpha_beta", dict, {}), f"{where}: [radiobiology.alpha_beta]", tuple(radio.table.get("alpha_beta", {}))
    )
    alpha_beta = {name: ab_table.number(name) for name in ab_table.table}
    priority = radio.get("alpha_beta_priority", (str, list), "lowest")
    structures = TableReader(top.get("structures", dict, {}), f"{where}: [structures]", ("rename",))
    rename_table = structures.get("rename", dict, {})
    rename = TableReader(rename_table, f"{where}: [structures.rename]", tuple(rename_table))
    dvh = TableReader(top.get("dvh", dict, {}), f"{where}: [dvh]", ("method", "end_caps", "resolution_mm"))
    output = TableReader(top.get("output", dict, {}), f"{where}: [output]", ("dir",))
    report = TableReader(top.get("report", dict, {}), f"{where}: [report]", ("pdf",))
    run = TableReader(top.get("run", dict, {}), f"{where}: [run]", ("backend",))
    subsamples = warp.get("subsamples", int, 1)
    if subsamples < 1:
        raise ConfigError(f"{where}: [warp].subsamples must be >= 1, got {subsamples}")
    settings = {
        "source": source,
        "registration": RegistrationConfig(
            reg.choice("preset", REGISTRATIONS, "accurate"),
            files,
            inverse_consistency=_inverse_consistency(reg, top.get("uncertainty", dict, {}), where),
            jacobian_map=reg.get("jacobian_map", bool, False),
            checks=registration_checks,
        ),
        "shared_dvf": shared_dvf,
        "warp_method": warp.choice("method", ("mass", "direct"), "mass"),
        "subsamples": subsamples,
        "alpha_beta_default": radio.number("alpha_beta_default", 3.0),
        "alpha_beta": alpha_beta,
        "alpha_beta_priority": priority if isinstance(priority, str) else tuple(priority),
        "reference_dose_per_fraction": radio.number("reference_dose_per_fraction", 2.0, strict=False),
        "overlaps": radio.choice("overlaps", OVERLAPS, "shared"),
        "dvh_method": dvh.choice("method", DVH_METHODS, "structure"),
        "dvh_end_caps": dvh.choice("end_caps", ("full", "half"), "full"),
        "dvh_resolution_mm": dvh.number("resolution_mm"),
        **_uncertainty(top.get("uncertainty", dict, {}), f"{where}: [uncertainty]"),
        "recovery": _recovery(top.get("recovery", dict, {}), where),
        "constraints": _constraints(top.get("constraints", dict), where, base),
        "structure_rename": {old: rename.get(old, str) for old in rename_table},
        "output_dir": output.path("dir", base) or (base / "out").resolve(),
        "report_pdf": report.get("pdf", bool, True),
        "backend": run.choice("backend", BACKENDS, "auto"),
        "accept": _accept(top.get("accept", dict, {}), where),
    }
    own = checks is None
    checks = Checks(settings["accept"], where) if own else checks
    check_settings(settings, checks)
    if own:
        checks.raise_if_refused()
    settings["findings"] = tuple(checks.findings)
    return settings


def parse_config(table: Mapping[str, Any], source: Path) -> RunConfig:
    """A RunConfig from a parsed TOML table; ``source`` is the file (paths are relative to its folder).

    Raises a ConfigError listing every implausible value (see :mod:`accumulate.plausibility`).
    """
    accept = _accept(table.get("accept", {}) if isinstance(table, Mapping) else {}, str(source))
    checks = Checks(accept, str(source))
    settings = parse_settings(table, source, checks)
    shared_dvf = settings.pop("shared_dvf")
    courses, reference_index = _courses(TableReader(table, str(source), SECTIONS), str(source), source.parent, shared_dvf)
    for course in courses:
        check_course(course, checks)
    checks.raise_if_refused()
    settings["findings"] = tuple(checks.findings)
    return RunConfig(courses=courses, reference_index=reference_index, **settings)


#: A configuration larger than this is not one (bounded reading of whatever file was named).
MAX_CONFIG_BYTES = 4 * 2**20


def read_toml(path: str | Path) -> dict[str, Any]:
    """The table of a TOML file; a missing, unreadable or malformed file is a ConfigError naming it.

    A folder, a DICOM file or a binary file named where a configuration is expected gets a
    message that says what it is and what to write instead.
    """
    source = Path(path)
    if source.is_dir():
        raise ConfigError(_folder_hint(source))
    try:
        with open(source, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {source} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"configuration file {source} cannot be read: {exc.strerror or exc}") from None
    if looks_like_dicom(data):
        raise ConfigError(
            f"{source} is a DICOM file, not a run configuration. Write a TOML configuration that names the courses "
            "(see configs/examples/demo-hn.toml, or run 'accumulate run' on the export folder for a template)"
        )
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source} is larger than {MAX_CONFIG_BYTES // 2**20} MiB: not a run configuration")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{source} is not a text file (not UTF-8): a run configuration is a TOML text file") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None


def _plan_date(path: Path | None) -> dt.date | None:
    from .io import read_plan

    if path is None:
        return None
    return read_plan(path).course_date[0]


def _folder_hint(folder: Path) -> str:
    """What to say when a folder is named as a configuration: a template naming the courses found in it."""
    from .io import discover_courses

    head = f"{folder} is a folder, not a run configuration (a TOML file)"
    try:
        courses = [c for c in discover_courses(folder) if c.dose_paths]
        courses.sort(key=lambda c: (_plan_date(c.plan_path) or dt.date.min, str(c.plan_path)))
    except AccumulateError:
        courses = []
    if not courses:
        return f"{head}; write one naming the courses (see configs/examples/demo-hn.toml)"
    tables = []
    for i, course in enumerate(courses, start=1):
        lines = [f'[[course]]\nname = "course{i}"', f'dose = "{course.dose_paths[0]}"']
        lines += [
            f'{key} = "{value}"'
            for key, value in (("plan", course.plan_path), ("structures", course.structure_path), ("ct", course.ct_folder))
            if value is not None
        ]
        tables.append("\n".join(lines))
    return (
        f"{head}. It is an export holding {len(courses)} course(s) with a dose; write a configuration such as this one "
        "(courses oldest first, the last is the reference; add [radiobiology], [recovery] and [constraints]):\n\n"
        + "\n\n".join(tables)
    )


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

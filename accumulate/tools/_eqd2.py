"""``accumulate eqd2 RTDOSE [--fractions N] --alpha-beta X [--eqdx 2] [-o OUT]``: a course dose as EQDx.

EQDx = D (d + alpha/beta) / (x + alpha/beta) per voxel, d = D / n the dose per fraction of the
course (n equal fractions), x the reference dose per fraction (2 for EQD2; 0 gives the BED).
The fractions default to the plan's (the RTPLAN the dose references, found beside it). Every
number is checked for plausibility (:mod:`accumulate.plausibility`): an alpha/beta of 300 (cGy),
1000 fractions or a dose maximum of 7000 Gy is refused naming the file, unless ``--accept
KEY=VALUE`` says exactly that value is intended. The output is an RTDOSE (or MHA/NRRD/NIfTI by
extension) of DoseType EFFECTIVE, labelled "EQD2 a/b 3 Gy, 35 fx" in SeriesDescription and
DoseComment, with the patient, study, frame and plan of the input and the input as source dose.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

HELP = "convert a course dose (RTDOSE) to EQD2 (or EQDx, BED) with one alpha/beta; writes an RTDOSE labelled as such"


@dataclass(frozen=True)
class EquivalentDose:
    """The result of :func:`dose_eqdx`: the EQDx volume, what it is (``label``) and where the fractions came from."""

    dose: Any  # Volume, Gy or Gy(RBE)
    eqdx: Any  # Volume, quantity "eqd<x>" or "bed"
    fractions: int
    fractions_from: str
    alpha_beta: float
    reference_dose_per_fraction: float
    label: str


def _label(x: float, alpha_beta: float, fractions: int) -> str:
    what = "BED" if x == 0 else f"EQD{x:g}"
    return f"{what} a/b {alpha_beta:g} Gy, {fractions} fx"


def parse_accept(items: list[str] | None) -> dict[str, float]:
    """``KEY=VALUE`` pairs of ``--accept`` as a mapping (InputError for a malformed one)."""
    from ..errors import InputError

    accept = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        try:
            accept[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key.strip():
            raise InputError(f"--accept {item!r}: expected KEY=NUMBER (e.g. --accept alpha_beta=30)")
    return accept


def _plausible(path: Path, values: dict[str, tuple[float, str]], accept: dict[str, float]) -> None:
    """Refuse implausible values (InputError naming ``path``), unless ``accept`` names exactly each one."""
    from ..errors import InputError
    from ..plausibility import REFUSED, Checks

    checks = Checks(accept=accept, where=str(path))
    for key, (value, kind) in values.items():
        checks.number(key, value, kind)
    refused = [f for f in checks.findings if f.state == REFUSED]
    if refused:
        lines = [f"{f.message.split('; if it is intended')[0]}; if it is intended, pass --accept {f.key}={f.value:g}"
                 for f in refused]  # fmt: skip
        raise InputError(f"{path}: {len(refused)} implausible value(s) refused:\n  " + "\n  ".join(lines))


def dose_eqdx(
    path: str | Path,
    *,
    alpha_beta: float,
    fractions: int | None = None,
    reference_dose_per_fraction: float = 2.0,
    accept: dict[str, float] | None = None,
    backend: str = "auto",
) -> EquivalentDose:
    """Read a course dose and convert it to EQDx with one alpha/beta (see the module docstring).

    Parameters
    ----------
    path : path
        RTDOSE of the whole course (a FRACTION dose is scaled by the plan's fractions), or MHA/NRRD.
    alpha_beta : float
        alpha/beta, Gy (plausible 0.5-25 Gy).
    fractions : int, optional
        Number of fractions of the course; default the plan's NumberOfFractionsPlanned.
    reference_dose_per_fraction : float
        x of EQDx, Gy (2 for EQD2, 0 for BED).
    accept : {key: value}, optional
        Implausible values that are intended (keys ``fractions``, ``alpha_beta``, ``eqdx``,
        ``dose_max_gy``, ``dose_per_fraction_gy``).

    Raises
    ------
    InputError
        Naming the file: unreadable dose, fractions unknown, an implausible value.
    """
    from ..errors import InputError
    from ..io import read_dose, read_plan
    from ..radiobiology import bed, eqd2

    path = Path(path)
    dose = read_dose(path, fractions=fractions)  # a FRACTION dose is scaled by them (else by the plan's)
    fractions_from = "--fractions"
    if fractions is None:
        plan_path = _plan_beside(path)
        plan = read_plan(plan_path) if plan_path is not None else None
        if plan is None or not plan.fractions:
            raise InputError(f"{path}: the number of fractions is not given (--fractions N) and no RTPLAN beside it says it")
        fractions, fractions_from = plan.fractions, f"RTPLAN {plan_path.name} NumberOfFractionsPlanned"
    if fractions <= 0 or int(fractions) != fractions:
        raise InputError(f"{path}: the number of fractions must be a whole number >= 1, got {fractions!r}")
    dose_max = float(dose.array.max()) if dose.array.size else 0.0
    values = {"fractions": (fractions, "fractions"), "alpha_beta": (alpha_beta, "alpha_beta"),
              "dose_max_gy": (dose_max, "dose_max_gy"),
              "dose_per_fraction_gy": (dose_max / fractions, "dose_per_fraction_gy")}  # fmt: skip
    if reference_dose_per_fraction != 0:  # 0: BED, legitimate
        values["eqdx"] = (reference_dose_per_fraction, "reference_dose_per_fraction")
    _plausible(path, values, accept or {})
    if reference_dose_per_fraction == 0:
        result = bed(dose, fractions, alpha_beta, backend=backend)
    else:
        result = eqd2(dose, fractions, alpha_beta, ref_dose=reference_dose_per_fraction, backend=backend)
    label = _label(reference_dose_per_fraction, alpha_beta, int(fractions))
    return EquivalentDose(dose, result, int(fractions), fractions_from, alpha_beta, reference_dose_per_fraction, label)


def _plan_beside(dose_path: Path) -> Path | None:
    """The RTPLAN the dose references, if it lies in the dose's folder."""
    from ..errors import InputError
    from ..io import discover_courses

    if dose_path.suffix.lower() != ".dcm":
        return None
    try:
        courses = discover_courses(dose_path.parent, recursive=False, allow_unreadable=True)
    except InputError:
        return None
    return next((c.plan_path for c in courses if dose_path.resolve() in {p.resolve() for p in c.dose_paths}), None)


def write_eqdx(result: EquivalentDose, source: Path, out: Path) -> Path:
    """Write ``result.eqdx`` as an RTDOSE (EFFECTIVE, labelled, the source dose referenced) or an MHA/NRRD/NIfTI."""
    from ..io import COMPOSED_WITH_RADIOBIOLOGY, DoseDerivation, instance_reference, is_itk_path, write_dose

    if is_itk_path(source):
        return write_dose(result.eqdx, out)
    derivation = DoseDerivation(
        description=f"{result.label} from {source.name}: EQDx = D (d + a/b) / (x + a/b), d = D / n, "
        f"n = {result.fractions} ({result.fractions_from}), a/b = {result.alpha_beta:g} Gy, x = "
        f"{result.reference_dose_per_fraction:g} Gy",
        codes=(COMPOSED_WITH_RADIOBIOLOGY,),
        source_doses=(instance_reference(source),),
    )
    return write_dose(result.eqdx, out, like=source, quantity=result.label, dose_type="EFFECTIVE", derivation=derivation)


def configure(parser) -> None:
    parser.add_argument("dose", type=Path, metavar="RTDOSE", help="the course dose (RTDOSE .dcm, or .mha/.nrrd in Gy)")
    parser.add_argument("--alpha-beta", type=float, required=True, metavar="X", help="alpha/beta, Gy")
    parser.add_argument("--fractions", type=int, default=None, metavar="N",
                        help="fractions of the course (default: the plan's, from the RTPLAN beside the dose)")  # fmt: skip
    parser.add_argument("--eqdx", type=float, default=2.0, metavar="X",
                        help="reference dose per fraction x of EQDx, Gy (default 2: EQD2; 0: BED)")  # fmt: skip
    parser.add_argument("-o", "--out", "--output", dest="out", type=Path, default=None,
                        help="write the EQDx here (.dcm RTDOSE, or .mha/.nrrd/.nii)")  # fmt: skip
    parser.add_argument("--accept", action="append", metavar="KEY=VALUE",
                        help="accept an implausible value that is intended (e.g. alpha_beta=30); repeatable")  # fmt: skip


def run(args) -> int:
    result = dose_eqdx(args.dose, alpha_beta=args.alpha_beta, fractions=args.fractions,
                       reference_dose_per_fraction=args.eqdx, accept=parse_accept(args.accept))  # fmt: skip
    dose, eqdx = result.dose.array, result.eqdx.array
    unit = result.eqdx.unit
    print(f"dose      {args.dose}: max {dose.max():.2f} {result.dose.unit}, {result.fractions} fractions "
          f"({result.fractions_from}), {dose.max() / result.fractions:.3g} {result.dose.unit} per fraction at max")  # fmt: skip
    print(f"{result.label.split()[0]:<9s} a/b {result.alpha_beta:g} Gy: max {eqdx.max():.2f} {unit}, "
          f"mean {eqdx.mean():.2f} {unit} over the dose grid")  # fmt: skip
    if args.out is not None:
        print(f"written   {write_eqdx(result, args.dose, args.out)} ({result.label})")
    return 0

"""``accumulate register FIXED MOVING --out DVF.mha``: deformable registration with quality checks.

Writes the field (fixed grid, moving point = p + u(p), mm, LPS) and, beside it, a folder
``<DVF name without its extension>_registration/`` with ``elastix.log``, the transform
parameter files, ``jacobian.mha``, ``quality.json`` (value, threshold and pass/fail per check)
and ``pictures/`` (PNG views for review). Body masks are used by default (``auto``), as in a
run. Exit status 13 ("needs review") when a registration check fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "register the prior-course CT (moving) to the re-irradiation CT (fixed) with elastix"


def _key_value(text: str) -> tuple[str, list[str]]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (an elastix parameter), got {text!r}")
    return key.strip(), value.split()


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("fixed", help="re-irradiation CT: DICOM CT folder or MHA/NRRD/NIfTI file")
    parser.add_argument("moving", help="prior-course CT: DICOM CT folder or MHA/NRRD/NIfTI file")
    parser.add_argument("--out", required=True, help="displacement field to write (.mha, .nrrd, .nii.gz or .dcm)")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--preset", default="fast", help="parameter preset in configs/elastix/ (fast, accurate); default fast")
    how.add_argument("--parameters", nargs="+", metavar="FILE", help="elastix parameter files, one stage each, in order")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        type=_key_value,
        default=[],
        metavar="KEY=VALUE",
        help="elastix parameter set in every stage, e.g. MaximumNumberOfIterations=100 (repeatable)",
    )
    parser.add_argument(
        "--fixed-mask",
        metavar="MASK|auto|none",
        default="auto",
        help="fixed body mask file, 'auto' (thresholded body, the default, as in a run) or 'none'",
    )
    parser.add_argument(
        "--moving-mask",
        metavar="MASK|auto|none",
        default="auto",
        help="moving body mask file, 'auto' (thresholded body, the default, as in a run) or 'none'",
    )
    parser.add_argument("--no-masks", action="store_true", help="no body masks (the metric samples the whole image)")
    parser.add_argument(
        "--initial-reg", metavar="REG.dcm", help="DICOM spatial registration to start from (default: one found in the CT folders)"
    )
    parser.add_argument("--no-initial-reg", action="store_true", help="ignore spatial registrations in the CT folders")
    parser.add_argument("--threads", type=int, help="elastix threads (default: all cores)")
    parser.add_argument(
        "--inverse-consistency", action="store_true", help="also register moving to fixed and report the loop error"
    )
    parser.add_argument("--landmarks", nargs=2, metavar=("FIXED.txt", "MOVING.txt"), help="elastix point files for the TRE")
    parser.add_argument(
        "--structure",
        nargs=3,
        action="append",
        default=[],
        metavar=("NAME", "FIXED_MASK", "MOVING_MASK"),
        help="a structure contoured on both CTs, for Dice after propagation (repeatable)",
    )
    parser.add_argument(
        "--oar",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "FIXED_MASK"),
        help="organ at risk on the fixed CT: folding or inconsistency inside it is flagged (repeatable)",
    )
    parser.add_argument(
        "--uncertainty",
        metavar="MAP.mha",
        help="per-voxel registration uncertainty (mm) on the fixed grid, for its check; with --inverse-consistency and "
        "without it: max(2 mm, 2 x the loop error), written as uncertainty_mm.mha",
    )
    parser.add_argument("--dicom-reg", metavar="REG.dcm", help="also write the field as a DICOM deformable registration")


def _mask(option: str | None, ct, body_mask, read_mask):
    if option is None or option == "none":
        return None
    return body_mask(ct) if option == "auto" else read_mask(option, like=ct)


def registration_folder(out: Path) -> Path:
    """``<out without its field extension>_registration`` beside ``out`` (``x0.05.mha`` -> ``x0.05_registration``)."""
    from ._field_io import FIELD_SUFFIXES

    name = out.name
    for suffix in sorted((*FIELD_SUFFIXES, ".dcm"), key=len, reverse=True):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return out.parent / f"{name}_registration"


def _frame(folder: str) -> str | None:
    from ._initial import first_ct_file

    found = first_ct_file(folder)
    return None if found is None else found[1]


def _initial(args: argparse.Namespace):
    """The rigid start: ``--initial-reg``, else a REG in the CT folders relating their frames (one rule with a run)."""
    from ._initial import choose_rigid_start

    if args.no_initial_reg:
        return None, None
    found = choose_rigid_start(
        fixed_frame=_frame(args.fixed),
        moving_frame=_frame(args.moving),
        explicit=args.initial_reg,
        search=[args.fixed, args.moving],
        what="--initial-reg",
    )
    return (None, None) if found is None else (found[1], found[0])


def _write_dicom(field, path: str, args: argparse.Namespace) -> None:
    from ..errors import InputError
    from . import write_field
    from ._initial import first_ct_file

    fixed_ct, moving_ct = first_ct_file(args.fixed), first_ct_file(args.moving)
    if fixed_ct is None or moving_ct is None:
        raise InputError(
            f"a DICOM deformable registration ({path}) needs DICOM CT folders for FIXED and MOVING "
            "(it refers to their patient and frames of reference); write .mha instead"
        )
    write_field(field, path, fixed_like=fixed_ct[0], moving_frame_uid=moving_ct[1])


def run(args: argparse.Namespace) -> int:
    from ..errors import GeometryError
    from . import (
        NEEDS_REVIEW_EXIT_CODE,
        assess,
        body_mask,
        inverse_consistency_error,
        read_elastix_points,
        read_image,
        read_mask,
        register,
        write_field,
        write_image,
        write_pictures,
    )

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    out = Path(args.out)
    folder = registration_folder(out)
    fixed, moving = read_image(args.fixed), read_image(args.moving)
    masks = ("none", "none") if args.no_masks else (args.fixed_mask, args.moving_mask)
    fixed_mask = _mask(masks[0], fixed, body_mask, read_mask)
    moving_mask = _mask(masks[1], moving, body_mask, read_mask)
    reg_path, initial = _initial(args)
    if reg_path is not None:
        progress(f"starting from the spatial registration {reg_path}")
    options = dict(
        preset=args.preset,
        parameter_files=args.parameters,
        overrides=dict(args.overrides),
        threads=args.threads,
        progress=progress,
    )
    if args.inverse_consistency:
        progress("registering both ways for the inverse-consistency check")
    result = register(
        fixed,
        moving,
        fixed_mask=fixed_mask,
        moving_mask=moving_mask,
        initial_moving_to_fixed=initial,
        output_directory=folder,
        backward=args.inverse_consistency,
        **options,
    )
    for path in (str(out), args.dicom_reg):
        if path and path.lower().endswith(".dcm"):
            _write_dicom(result.field, path, args)
        elif path:
            write_field(result.field, path)
    backward = None if result.backward is None else result.backward.field
    landmarks = None
    if args.landmarks:
        landmarks = (read_elastix_points(args.landmarks[0], fixed.grid), read_elastix_points(args.landmarks[1], moving.grid))
    structures = {name: (read_mask(f, like=fixed), read_mask(m, like=moving)) for name, f, m in args.structure}
    oars = {name: read_mask(path, like=fixed) for name, path in args.oar}
    uncertainty = None
    if args.uncertainty:
        uncertainty = read_image(args.uncertainty, quantity="uncertainty", unit="mm")
        fixed.grid.require_same(uncertainty.grid, f"the uncertainty map '{args.uncertainty}' and the fixed CT")
    loop = None if backward is None else inverse_consistency_error(result.field, backward)  # once: check and radius
    if uncertainty is None and loop is not None:  # the per-voxel radius of [uncertainty] method = "inverse-consistency"
        from ..uncertainty import consistency_radius

        region = None if fixed_mask is None else fixed_mask.array >= 0.5
        uncertainty = consistency_radius(loop, region=region)
        write_image(uncertainty, folder / "uncertainty_mm.mha")
    report = assess(
        result.field,
        region=fixed_mask,
        loop_error=loop,
        landmarks=landmarks,
        structures=structures,
        oars=oars,
        uncertainty=uncertainty,
    )
    run_info = {
        "fixed": str(args.fixed),
        "moving": str(args.moving),
        "field": str(out),
        "preset": None if args.parameters else args.preset,
        "parameter_files": args.parameters,
        "masks": list(masks),
        "initial_registration": None if reg_path is None else str(reg_path),
        "stage_s": dict(result.stage_s),
    }
    report.write_json(folder / "quality.json", registration=run_info)
    write_image(report.jacobian, folder / "jacobian.mha")
    contours = {name: pair[0] for name, pair in structures.items()} | oars
    region = None if fixed_mask is None else fixed_mask.array
    options = {"structures": contours, "region": region, "uncertainty": uncertainty}
    try:
        write_pictures(folder / "pictures", fixed, moving, result.field, report, **options)
    except GeometryError as exc:  # an oblique fixed CT: its planes are not axial, coronal, sagittal
        print(f"warning: no review pictures: {exc}", file=sys.stderr)
    for check in report.checks:
        print(f"{check.name:<28} {check.verdict.upper():<5} {check.message} (threshold: {check.threshold})")
    verdict = "PASS" if report.verdict == "pass" else "NEEDS REVIEW"
    print(f"overall: {verdict}; field: {out}; log, Jacobian map, pictures and quality.json in {folder}")
    return 0 if report.verdict == "pass" else NEEDS_REVIEW_EXIT_CODE

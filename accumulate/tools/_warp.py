"""``accumulate warp DOSE FIELD -o OUT [--method mass|direct] [--outside zero|nan] [--moving-ct DIR] [--fixed FILE]``.

Maps a prior-course dose onto the reference (fixed) grid through a displacement field
(:func:`accumulate.warp_dose`): the field is a DICOM deformable REG or an MHA/NRRD/NIfTI vector
image on the fixed grid (elastix convention: moving point = fixed point + u, LPS mm). ``mass``
(default) is energy/mass-consistent, with the density of ``--moving-ct`` (unit density without
it, said); ``direct`` interpolates the dose. ``--fixed`` names a file of the reference course (an
RTDOSE, whose grid the result then takes, or a CT slice / RTPLAN / RTSTRUCT): the output
RTDOSE takes its patient, study and frame of reference. Without it the result is on the
field's grid in a new frame (it overlays nothing in a planning system: said on the console).
Voxels that map outside the prior dose grid are counted and hold 0 Gy (``--outside zero``) or
NaN (``--outside nan``, for MHA/NRRD output only: an RTDOSE cannot hold NaN).
"""

from __future__ import annotations

from pathlib import Path

from ..config import BACKENDS

HELP = "warp a prior dose onto the reference grid through a displacement field (REG DICOM or MHA/NRRD vector image)"


def configure(parser) -> None:
    parser.add_argument("dose", type=Path, metavar="DOSE", help="prior-course dose (RTDOSE .dcm, or .mha/.nrrd in Gy)")
    parser.add_argument("field", type=Path, metavar="FIELD",
                        help="displacement field on the fixed grid: DICOM deformable REG (.dcm) or MHA/NRRD vectors")  # fmt: skip
    parser.add_argument("-o", "--out", "--output", dest="out", type=Path, required=True,
                        help="the warped dose (.dcm RTDOSE, or .mha/.nrrd/.nii)")  # fmt: skip
    parser.add_argument("--method", choices=("mass", "direct"), default="mass",
                        help="mass: energy/mass-consistent (default); direct: trilinear pull of the dose")  # fmt: skip
    parser.add_argument("--outside", choices=("zero", "nan"), default="zero",
                        help="value of voxels that map outside the prior dose grid (default zero)")  # fmt: skip
    parser.add_argument("--moving-ct", type=Path, default=None, metavar="DIR",
                        help="the prior CT (DICOM folder, or .mha): its mass density weights the mass method")  # fmt: skip
    parser.add_argument("--fixed", type=Path, default=None, metavar="FILE",
                        help="a file of the reference course (its patient, frame kept); an RTDOSE gives the grid")  # fmt: skip
    parser.add_argument("--backend", default="auto", choices=BACKENDS, help="compute backend")


def _target_grid(fixed: Path | None):
    """The reference RTDOSE's grid when ``--fixed`` is one, else None (the field's grid)."""
    import pydicom

    from ..errors import InputError
    from ..io import is_itk_path, looks_like_dicom, read_dose

    if fixed is None:
        return None
    if not fixed.is_file():
        raise InputError(f"--fixed {fixed}: not a file (give one file of the reference course: RTDOSE, CT slice, RTPLAN)")
    if is_itk_path(fixed):
        raise InputError(f"--fixed {fixed}: a DICOM file of the reference course is needed (its patient and frame are copied)")
    with open(fixed, "rb") as handle:
        if not looks_like_dicom(handle.read(132)):
            raise InputError(f"--fixed {fixed}: not a DICOM file")
    modality = str(pydicom.dcmread(fixed, stop_before_pixels=True).get("Modality", ""))
    return read_dose(fixed).grid if modality == "RTDOSE" else None


def run(args) -> int:
    from ..density import density_from_ct
    from ..errors import InputError
    from ..io import (
        COMPOSED_FROM_DEFORMABLE_REGISTRATION,
        DoseDerivation,
        instance_reference,
        is_itk_path,
        read_ct,
        read_dose,
        write_dose,
    )
    from ..registration import read_field
    from ..warp import warp_dose

    if args.outside == "nan" and not is_itk_path(args.out):
        raise InputError(f"{args.out}: an RTDOSE cannot hold NaN; write .mha/.nrrd with --outside nan, or use --outside zero")
    dose = read_dose(args.dose)
    field = read_field(args.field)
    target = _target_grid(args.fixed)
    same_frame = _check_fixed_is_the_patients_other_frame(args.dose, args.fixed)
    density = density_from_ct(read_ct(args.moving_ct)) if args.moving_ct is not None and args.method == "mass" else None
    result = warp_dose(dose, field, method=args.method, moving_density=density, target_grid=target, backend=args.backend,
                       outside=args.outside)  # fmt: skip
    warped = result.dose.to_numpy()
    outside = int(result.outside.to_numpy().array.sum())
    print(f"dose      {args.dose}: max {float(dose.array.max()):.2f} {dose.unit} on {dose.grid!r}")
    print(f"field     {args.field}: {field.grid!r}")
    how = f"{result.method}" + (", unit density assumed (no --moving-ct)" if result.unit_density else "")
    inside = warped.array[~result.outside.to_numpy().array]
    print(f"warped    ({how}, backend {result.backend}): max {float(inside.max(initial=0.0)):.2f} {warped.unit} "
          f"on {warped.grid!r}")  # fmt: skip
    if same_frame:
        print(f"WARNING   {args.dose.name} and --fixed {args.fixed.name} share one frame of reference: the warped dose is "
              "labelled in the frame it came from; check that --fixed is a file of the reference course")  # fmt: skip
    if outside:
        value = "0 Gy" if args.outside == "zero" else "NaN"
        print(f"WARNING   {outside} of {warped.grid.size} voxels map outside the prior dose grid: they hold {value}")
    if is_itk_path(args.out):
        written = write_dose(warped, args.out)
    else:
        if args.fixed is None:
            print("WARNING   no --fixed file: the RTDOSE gets a new frame of reference (it overlays nothing in a TPS)")
        derivation = DoseDerivation(
            description=f"{dose.quantity} of {args.dose.name} warped ({result.method}) through {args.field.name}",
            codes=(COMPOSED_FROM_DEFORMABLE_REGISTRATION,),
            source_doses=(instance_reference(args.dose),) if not is_itk_path(args.dose) else (),
            spatial_transform="NON_RIGID",
        )
        written = write_dose(warped, args.out, like=args.fixed, quantity=f"warped {args.dose.name} ({result.method})"[:64],
                             referenced_plans=_plans(args.dose), derivation=derivation)  # fmt: skip
    print(f"written   {written}")
    return 0


def _check_fixed_is_the_patients_other_frame(dose: Path, fixed: Path | None) -> bool:
    """InputError when the DICOM dose and ``--fixed`` name different patients; True when they share one frame."""
    from ..errors import InputError
    from ..io import is_itk_path
    from ..io.identity import read_identity

    if fixed is None or is_itk_path(dose):
        return False
    moving, reference = read_identity(dose), read_identity(fixed)
    if moving.patient_id and reference.patient_id and moving.patient_id != reference.patient_id:
        raise InputError(f"{dose} is patient '{moving.patient_id}' but --fixed {fixed} is patient '{reference.patient_id}': "
                         "the warped dose would be filed under another patient")  # fmt: skip
    frames = moving.frame_of_reference_uid, reference.frame_of_reference_uid
    return bool(frames[0]) and frames[0] == frames[1]


def _plans(dose: Path) -> list:
    """The plans the warped dose is of: the prior dose's own (it stays that plan's dose, in another frame), else a placeholder."""
    from ..io import is_itk_path, placeholder_plan, referenced_plans_of

    return (list(referenced_plans_of(dose)) if not is_itk_path(dose) else []) or [placeholder_plan()]

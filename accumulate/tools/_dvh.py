"""``accumulate dvh RTDOSE RTSTRUCT [--structures NAME ...] [--metrics M ...] [--csv F]``: DVH metrics per structure.

Each structure is sampled from its contours on its own fine grid, as a run's DVHs are
(:func:`accumulate.evaluation.sample_structure`: the resolution rule, full end caps, a
single-plane structure as thick as a dose slice), and the dose is interpolated trilinearly at
the samples (:func:`accumulate.evaluation.values_at_points`). Samples outside the dose grid are
left out and the share of the volume they stand for is printed (never counted as 0 Gy); a
structure wholly outside is listed without metrics. Metrics are those of
:mod:`accumulate.evaluation.dvh` (Dmax, Dmean, D0.03cc, D95%, V20Gy in cc, V20Gy% ...); doses
in the dose's unit (Gy or Gy(RBE)), volumes in cc.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

HELP = "DVH metrics of the structures of an RTSTRUCT on a dose (RTDOSE), sampled at structure resolution"
DEFAULT_METRICS = ("Dmax", "D0.03cc", "Dmean", "D95%", "Dmin")
_DEFAULT_HELP = " ".join(DEFAULT_METRICS).replace("%", "%%")  # argparse help expands %


@dataclass(frozen=True)
class StructureMetrics:
    """One structure's DVH metrics (``values`` by metric name; None where undefined) and how much lay outside the dose."""

    structure: str
    volume_cc: float
    outside_percent: float
    values: dict[str, float | None] = field(default_factory=dict)
    note: str = ""


def structure_metrics(
    dose,
    rtstruct: str | Path,
    *,
    structures=None,
    metrics=DEFAULT_METRICS,
    prescription_gy: float | None = None,
    frame_of_reference_uid: str | None = None,
) -> list[StructureMetrics]:
    """DVH metrics of each structure of ``rtstruct`` on ``dose`` (a Volume, Gy), sampled at structure resolution.

    Parameters
    ----------
    dose : Volume
        The dose, Gy or Gy(RBE), any grid orientation (LPS mm).
    rtstruct : path
        RT Structure Set; ``structures`` (names, matched through the synonym table) chooses
        some, by default every ROI with closed contours.
    metrics : sequence of str
        Metric names (see :mod:`accumulate.evaluation.dvh`); ``V<p>%Rx`` needs ``prescription_gy``.
    frame_of_reference_uid : str, optional
        The dose's frame: a structure set in another frame is refused (GeometryError).

    Returns
    -------
    list of StructureMetrics
        In the structure set's order.
    """
    from ..errors import InputError
    from ..evaluation import dvh_from_samples, sample_structure, values_at_points
    from ..evaluation.dvh import METRIC_HELP, METRIC_PATTERN
    from ..io import read_contours

    unknown = [m for m in metrics if not METRIC_PATTERN.match(m.strip())]
    if unknown:
        raise InputError(f"unknown DVH metric(s) {unknown}; use {METRIC_HELP}")
    contours = read_contours(rtstruct, names=structures, frame_of_reference_uid=frame_of_reference_uid)
    out = []
    for name, polygons in contours.items():
        samples = sample_structure(polygons, name=name, single_plane_mm=dose.grid.spacing_mm[2])
        values, outside = values_at_points(dose, samples.points_mm)
        total = samples.total_cc
        share = 100 * float(samples.volumes_cc[outside].sum() / total) if total > 0 else 0.0
        if outside.all():
            out.append(StructureMetrics(name, total, 100.0, dict.fromkeys(metrics), "wholly outside the dose grid"))
            continue
        kept = samples.subset(~outside, "cut to the dose grid") if outside.any() else samples
        histogram = dvh_from_samples(kept, values[~outside])
        found: dict[str, float | None] = {}
        notes = []
        for metric in metrics:
            try:
                found[metric] = histogram.metric(metric, prescription_gy=prescription_gy)
            except InputError as exc:
                found[metric] = None
                notes.append(f"{metric}: {exc}")
        out.append(StructureMetrics(name, total, share, found, "; ".join(notes)))
    return out


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def configure(parser) -> None:
    parser.add_argument("dose", type=Path, metavar="RTDOSE", help="the dose (RTDOSE .dcm, or .mha/.nrrd in Gy)")
    parser.add_argument("structures_file", type=Path, metavar="RTSTRUCT", help="the structure set (in the dose's frame)")
    parser.add_argument("--structures", nargs="+", default=None, metavar="NAME",
                        help="only these structures (names matched through the synonym table; default: all)")  # fmt: skip
    parser.add_argument("--metrics", nargs="+", default=list(DEFAULT_METRICS), metavar="M",
                        help=f"metrics (default: {_DEFAULT_HELP}); e.g. V20Gy (cc), V20Gy%% (%%), D2cc")  # fmt: skip
    parser.add_argument("--prescription", type=float, default=None, metavar="GY", help="prescription dose, Gy, for V<p>%%Rx")
    parser.add_argument("--csv", type=Path, default=None, metavar="FILE", help="also write the table as CSV")


def run(args) -> int:
    from ..evaluation import metric_unit
    from ..io import is_itk_path, read_dose
    from ._text import text_table

    dose = read_dose(args.dose)
    frame = None
    if not is_itk_path(args.dose):
        import pydicom

        frame = str(pydicom.dcmread(args.dose, stop_before_pixels=True).get("FrameOfReferenceUID", "")) or None
    found = structure_metrics(dose, args.structures_file, structures=args.structures, metrics=args.metrics,
                              prescription_gy=args.prescription, frame_of_reference_uid=frame)  # fmt: skip
    headers = ["structure", "volume (cc)", "outside (%)"] + [f"{m} ({metric_unit(m, dose.unit)})" for m in args.metrics]
    rows = [[f.structure, f"{f.volume_cc:.2f}", f"{f.outside_percent:.1f}"] + [_cell(f.values[m]) for m in args.metrics]
            for f in found]  # fmt: skip
    print(f"dose {args.dose} ({dose.unit}, max {float(dose.array.max()):.2f}); structures {args.structures_file}")
    print(text_table(headers, rows, [False] + [True] * (len(headers) - 1)))
    for f in found:
        if f.note:
            print(f"note: {f.structure}: {f.note}")
        elif f.outside_percent > 0.1:
            print(f"WARNING: {f.outside_percent:.1f} % of {f.structure} lies outside the dose grid: its metrics cover the rest")
    if args.csv is not None:
        lines = [headers] + [
            [f.structure, f"{f.volume_cc:.6g}", f"{f.outside_percent:.4g}"]
            + ["" if f.values[m] is None else f"{f.values[m]:.6g}" for m in args.metrics]
            for f in found
        ]
        _write_csv(args.csv, lines)
        print(f"written {args.csv}")
    return 0


def _write_csv(path: Path, lines: list[list[str]]) -> None:
    from ..errors import OutputError

    buffer = io.StringIO()
    csv.writer(buffer).writerows(lines)
    try:
        path.write_text(buffer.getvalue(), encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"{path}: cannot be written ({exc.strerror or exc})") from None

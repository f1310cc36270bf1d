"""Registration checks with thresholds, the "needs review" status, and the review pictures.

Numbers are worked out by hand: the Dice of two spheres shifted by d is the lens volume over the
sphere volume, (4r + d)(2r - d)^2 / (16 r^3); the pictures are checked where a bright object
of known position must (and must not) appear.
"""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from accumulate import DisplacementField, Grid, Volume
from accumulate.pipeline import run_status
from accumulate.pipeline._preflight import CaseChecks
from accumulate.registration import (
    NEEDS_REVIEW_EXIT_CODE,
    Tolerances,
    assess,
    body_mask,
    centroid_index,
    report_figures,
    review_pictures,
    write_pictures,
)
from accumulate.registration._command import registration_folder
from accumulate.report import Figure


def _sphere(grid: Grid, centre, radius: float) -> Volume:
    p = grid.world_coordinates()
    return Volume(np.linalg.norm(p - np.asarray(centre), axis=-1) <= radius, grid, "mask", "1")


def test_dice_of_a_shifted_sphere_against_the_lens_volume():
    # r = 10 mm on a 1 mm grid, moving sphere 4 mm further along x: identity field -> lens Dice
    # (4r + d)(2r - d)^2 / (16 r^3) = 44 * 256 / 16000 = 0.704; the true shift field -> 1
    grid = Grid((36, 36, 40), spacing_mm=(1.0, 1.0, 1.0))
    fixed = _sphere(grid, (18.0, 17.5, 17.5), 10.0)
    moving = _sphere(grid, (22.0, 17.5, 17.5), 10.0)
    identity = assess(DisplacementField.identity(grid), structures={"gtv": (fixed, moving)})
    check = identity.checks[-1]
    assert check.name == "dice:gtv" and check.value == pytest.approx(0.704, abs=0.01)
    assert (
        check.verdict == "fail"
        and identity.verdict == "fail"
        and check.threshold == "Dice >= 0.8 for structures >= 3 voxels thick"
    )
    shift = DisplacementField(np.broadcast_to([4.0, 0.0, 0.0], grid.shape + (3,)).copy(), grid)
    right = assess(shift, structures={"gtv": (fixed, moving)})
    assert right.checks[-1].value == pytest.approx(1.0) and right.verdict == "pass"
    np.testing.assert_array_equal(right.propagated["gtv"], fixed.array)


def test_jacobian_range_and_folding_thresholds_on_a_known_field():
    # u_x = a sin(k x): J = 1 + a k cos(k x), between 1 - a k and 1 + a k (a k = 0.6 here: 0.4 .. 1.6)
    grid = Grid((4, 4, 80), spacing_mm=(1.0, 1.0, 1.0))
    x = grid.world_coordinates()[..., 0]
    u = np.zeros(grid.shape + (3,))
    u[..., 0] = 0.6 / (2 * np.pi / 40) * np.sin(2 * np.pi / 40 * x)
    report = assess(DisplacementField(u, grid))
    checks = {c.name: c for c in report.checks}
    assert checks["folding"].verdict == "pass" and checks["folding"].value == 0
    assert checks["jacobian_range"].verdict == "fail"  # 0.4 < 0.5
    assert checks["jacobian_range"].values["min"] == pytest.approx(0.4, abs=0.01)
    lenient = assess(DisplacementField(u, grid), tolerances=Tolerances(jacobian_min=0.35))
    assert lenient.verdict == "pass"
    with pytest.raises(Exception, match="jacobian_min"):
        Tolerances(jacobian_min=1.5)


def test_uncertainty_inside_each_organ_at_risk():
    grid = Grid((10, 10, 10))
    cord = Volume(np.zeros(grid.shape, bool), grid, "mask", "1")
    cord.array[:, 4:6, 4:6] = True
    values = np.full(grid.shape, 1.0)
    values[:, 4:6, 4:6] = 4.0  # 4 mm inside the cord: over the 3 mm default
    uncertainty = Volume(values, grid, "uncertainty", "mm")
    report = assess(DisplacementField.identity(grid), oars={"cord": cord}, uncertainty=uncertainty)
    check = next(c for c in report.checks if c.name == "uncertainty:cord")
    assert check.value == pytest.approx(4.0) and check.verdict == "fail"
    assert check.threshold == "95th percentile <= 3 mm inside 'cord'"


def _summary(report) -> dict:
    return {"prior": {"field": "given", **report.to_dict()}}


def test_a_failed_registration_check_makes_the_run_need_review():
    grid = Grid((6, 6, 20))
    x = grid.world_coordinates()[..., 0]
    folded = np.zeros(grid.shape + (3,))
    folded[..., 0] = -1.5 * np.clip(x, 8, 12)  # J = -0.5 at x = 9..11 (see test_registration_quality)
    bad = assess(DisplacementField(folded, grid))
    good = assess(DisplacementField.identity(grid))
    status = run_status([], CaseChecks(), has_constraints=False, registration=_summary(bad))
    assert status.state == "needs review" and status.exit_code == NEEDS_REVIEW_EXIT_CODE == 13
    assert any("folding FAIL: 108" in r for r in status.reasons)
    assert "course 'prior': jacobian_range FAIL: -0.5 (threshold 0.5 <= J <= 2 inside the body)" in status.registration_checks
    fine = run_status([], CaseChecks(), has_constraints=False, registration=_summary(good))
    assert fine.state == "doses only" and fine.exit_code == 0
    assert fine.registration_checks[0].startswith("course 'prior': folding PASS: 0")


def _bright_plate_ct() -> tuple[Volume, Volume]:
    """Air with a water box; a bright plate (1000 HU) only in slice z = 11; an organ over z = 9..13 around it."""
    grid = Grid((24, 40, 50), origin_mm=(-50.0, -40.0, -24.0), spacing_mm=(2.0, 2.0, 2.0))
    hu = np.full(grid.shape, -1000.0, np.float32)
    hu[2:22, 5:35, 5:45] = 0.0
    hu[11, 15:25, 20:30] = 1000.0
    organ = np.zeros(grid.shape, bool)
    organ[9:14, 15:26, 20:31] = True  # centroid (11, 20, 25)
    return Volume(hu, grid, "hu", "HU"), Volume(organ, grid, "mask", "1")


def _panel(picture, key) -> np.ndarray:
    left, top, right, bottom = picture.panels[key]
    return picture.rgb[top:bottom, left:right].astype(float)


def test_review_pictures_pass_through_the_organ_centroid(tmp_path):
    ct, organ = _bright_plate_ct()
    assert centroid_index(organ.array) == (11, 20, 25)
    field = DisplacementField.identity(ct.grid)
    report = assess(field, region=body_mask(ct), structures={"organ": (organ, organ)})
    uncertainty = Volume(np.ones(ct.grid.shape), ct.grid, "uncertainty", "mm")
    pictures = review_pictures(ct, ct, field, report, structures={"organ": organ}, uncertainty=uncertainty)
    assert [p.name for p in pictures] == ["review_organ.png", "jacobian.png", "uncertainty.png"]
    review = pictures[0]
    assert review.index_zyx == (11, 20, 25)
    axial = _panel(review, ("checkerboard", "axial"))
    # the panel keeps the mm aspect: 50 x 2 mm wide, 40 x 2 mm high
    assert axial.shape[1] / axial.shape[0] == pytest.approx(50 / 40, rel=0.05)
    h, w = axial.shape[:2]
    plate = axial[int(h * 16 / 40) : int(h * 24 / 40), int(w * 21 / 50) : int(w * 29 / 50)]
    water = axial[int(h * 8 / 40) : int(h * 12 / 40), int(w * 8 / 50) : int(w * 12 / 50)]
    assert plate.mean() > 240  # the plate (white in the window -1000..600 HU) is in this slice
    assert 140 < water.mean() < 175  # water: (0 + 1000) / 1600 of white = 159
    # coronal through y = 20: the plate is one bright row at z = 11, counted from the top (superior) row 23 - 11 = 12
    coronal = _panel(review, ("blend", "coronal"))
    rows = coronal.mean(axis=(1, 2))
    brightest = int(np.argmax(rows)) * 24 / coronal.shape[0]
    assert 12 <= brightest <= 13
    # identical images: the blend is grey (no magenta or green anywhere)
    assert np.abs(coronal[..., 0] - coronal[..., 1]).max() <= 2
    paths = write_pictures(tmp_path / "pictures", ct, ct, field, report, structures={"organ": organ})
    import matplotlib.image

    back = matplotlib.image.imread(paths[0])
    assert back.shape[:2] == review.rgb.shape[:2]
    figures = report_figures(pictures)
    assert all(isinstance(f, Figure) and f.png.startswith(b"\x89PNG") for f in figures) and "organ" in figures[0].caption


def _stored_otherwise(volume: Volume, how: str) -> Volume:
    """The same voxels (same centres, same values) stored feet-first-like (x and z reversed) or with x and y swapped."""
    grid, array = volume.grid, np.asarray(volume.array)
    (nz, ny, nx), (sx, sy, sz), (ox, oy, oz) = grid.shape, grid.spacing_mm, grid.origin_mm
    if how == "flipped":
        other = Grid((nz, ny, nx), (ox + (nx - 1) * sx, oy, oz + (nz - 1) * sz), (sx, sy, sz), (-1, 0, 0, 0, 1, 0, 0, 0, -1))
        return Volume(array[::-1, :, ::-1], other, volume.quantity, volume.unit)
    other = Grid((nz, nx, ny), (ox, oy, oz), (sy, sx, sz), (0, 1, 0, 1, 0, 0, 0, 0, 1))  # index i along LPS y
    return Volume(np.swapaxes(array, 1, 2), other, volume.quantity, volume.unit)


@pytest.mark.parametrize("how", ["flipped", "swapped"])
def test_pictures_show_the_patient_whatever_the_storage_order(how):
    # A CT stored feet-first (index x towards the patient's right, z inferior) or with its rows along x shows the same
    # planes as the head-first one: the same pixels in every panel, the organ's planes through the same point.
    from accumulate.registration._pictures import warped_plane

    ct, organ = _bright_plate_ct()
    ct.array[11, 15:25, 20:24] = 100.0  # the plate's right part dimmer: a mirrored picture would show it on the other side
    other_ct, other_organ = _stored_otherwise(ct, how), _stored_otherwise(organ, how)
    for volume, twin in ((ct, other_ct), (organ, other_organ)):  # the same value at every LPS point
        points, values = twin.grid.world_coordinates().reshape(-1, 3), np.asarray(twin.array).reshape(-1)
        index = np.rint(volume.grid.index_from_world(points)).astype(int)
        np.testing.assert_array_equal(np.asarray(volume.array)[tuple(index.T)], values)
    pictures = {}
    for key, (c, o) in {"head-first": (ct, organ), how: (other_ct, other_organ)}.items():
        field = DisplacementField.identity(c.grid)
        report = assess(field, region=body_mask(c), structures={"organ": (o, o)})
        pictures[key] = review_pictures(c, c, field, report, structures={"organ": o})[0]
        centre = c.grid.world_from_index(np.array(pictures[key].index_zyx, float))
        np.testing.assert_allclose(centre, ct.grid.world_from_index(np.array([11.0, 20.0, 25.0])))
        assert warped_plane(c, field, "sagittal", pictures[key].index_zyx).shape == (24, 40)  # rows z, columns y
    first, second = pictures["head-first"], pictures[how]
    for key in first.panels:
        np.testing.assert_array_equal(_panel(first, key), _panel(second, key), err_msg=str(key))
    axial = _panel(first, ("checkerboard", "axial"))
    h, w = axial.shape[:2]
    dim, bright = axial[int(h * 17 / 40), int(w * 21.5 / 50)], axial[int(h * 17 / 40), int(w * 27 / 50)]
    assert dim.mean() < bright.mean() - 40  # patient right (low x) on the viewer's left: the dim part on the left


def test_an_oblique_ct_gets_no_mislabelled_pictures():
    from accumulate import GeometryError

    c, s = np.cos(0.3), np.sin(0.3)
    grid = Grid((6, 8, 8), spacing_mm=(2.0, 2.0, 2.0), direction=(c, -s, 0, s, c, 0, 0, 0, 1))
    ct = Volume(np.zeros(grid.shape, np.float32), grid, "hu", "HU")
    field = DisplacementField.identity(grid)
    with pytest.raises(GeometryError, match="not along LPS"):
        review_pictures(ct, ct, field, assess(field))


def test_map_pictures_pass_through_the_extreme_and_colour_the_body_only():
    ct, _ = _bright_plate_ct()
    body = body_mask(ct).array
    field = DisplacementField.identity(ct.grid)
    values = np.full(ct.grid.shape, 2.0, np.float32)
    values[12, 22, 30] = 5.0
    peaked = review_pictures(ct, ct, field, assess(field), region=body,
                             uncertainty=Volume(values, ct.grid, "registration_uncertainty", "mm"))[-1]  # fmt: skip
    assert peaked.name == "uncertainty.png" and peaked.index_zyx == (12, 22, 30) and "the check's 3 mm" in peaked.caption
    axial = _panel(peaked, ("map", "axial"))
    h, w = axial.shape[:2]
    air, tissue = axial[int(h * 0.05), int(w * 0.05)], axial[int(h * 0.5), int(w * 0.2)]
    assert air.max() < 10  # outside the body: the CT's air, black, no colour
    assert np.ptp(tissue) > 20  # inside: the map's colour over the grey CT
    # a flat map (the Jacobian of the identity, a constant radius) passes through the body's centroid, not a corner
    flat = review_pictures(ct, ct, field, assess(field), region=body,
                           uncertainty=Volume(np.full(ct.grid.shape, 2.0), ct.grid, "uncertainty", "mm"))  # fmt: skip
    assert [p.name for p in flat[1:]] == ["jacobian.png", "uncertainty.png"]
    assert flat[1].index_zyx == flat[2].index_zyx == centroid_index(body)


def test_output_folder_keeps_the_dots_of_the_name(tmp_path):
    assert registration_folder(tmp_path / "x0.05.mha") == tmp_path / "x0.05_registration"
    assert registration_folder(tmp_path / "x0.2.mha") == tmp_path / "x0.2_registration"
    assert registration_folder(tmp_path / "dvf.nii.gz") == tmp_path / "dvf_registration"
    assert registration_folder(tmp_path / "reg.v2.dcm") == tmp_path / "reg.v2_registration"


def test_register_uses_body_masks_by_default():
    import argparse

    from accumulate.registration import _command

    parser = argparse.ArgumentParser()
    _command.configure(parser)
    args = parser.parse_args(["f.mha", "m.mha", "--out", "x.mha"])
    assert (args.fixed_mask, args.moving_mask, args.no_masks) == ("auto", "auto", False)
    assert parser.parse_args(["f.mha", "m.mha", "--out", "x.mha", "--no-masks"]).no_masks


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from accumulate.phantom import write_demo_case

    return write_demo_case(tmp_path_factory.mktemp("case") / "hn", size="test")


def _run(demo, tmp_path, field_path):
    from accumulate.config import load_config
    from accumulate.pipeline import run

    text = f"""
    [registration]
    dvf = "{field_path}"
    jacobian_map = true
    [output]
    dir = "{tmp_path / "out"}"
    """
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "run.toml"
    path.write_text(demo.course_tables() + textwrap.dedent(text))
    return run(load_config(path), progress=lambda line: None)


def test_a_run_with_a_folding_field_needs_review_and_shows_its_pictures(demo, tmp_path):
    from accumulate.registration import read_field, write_field

    truth = read_field(demo.true_field_path)
    good = _run(demo, tmp_path / "good", demo.true_field_path)
    checks = {c["name"]: c for c in good.summary["registration"]["prior"]["checks"]}
    assert checks["folding"]["verdict"] == "pass" and checks["jacobian_range"]["verdict"] == "pass"
    assert good.status.state != "needs review"
    # fold the true field inside the body: a 6 mm step in u_x over 2 voxels along x at the grid centre
    u = np.array(truth.array, dtype=np.float64)
    nx = u.shape[2]
    dx = truth.grid.spacing_mm[0]
    ramp = np.clip((np.arange(nx) - nx // 2) * dx, 0.0, 2 * dx) * (-3.0)  # du/dx = -3: J = 1 - 3 < 0
    u[..., 0] += ramp[None, None, :]
    folded_path = write_field(DisplacementField(u, truth.grid), tmp_path / "folded.mha")
    bad = _run(demo, tmp_path / "bad", folded_path)
    assert bad.status.state == "needs review" and bad.status.exit_code == 13
    summary = json.loads((tmp_path / "bad" / "out" / "summary.json").read_text())
    assert summary["status"]["state"] == "needs review"
    assert any(line.startswith("course 'prior': folding FAIL") for line in summary["status"]["registration_checks"])
    pictures = sorted(p.name for p in (tmp_path / "bad" / "out" / "registration" / "prior" / "pictures").iterdir())
    assert "jacobian.png" in pictures and any(name.startswith("review_") for name in pictures)
    assert (tmp_path / "bad" / "out" / "registration" / "prior" / "jacobian.mha").exists()
    html = (tmp_path / "bad" / "out" / "report.html").read_text()
    assert "NEEDS REVIEW" in html and "Registration checks" in html and "Jacobian determinant" in html


def test_thickness_of_a_slab_by_hand_and_thin_structures_not_scored():
    from accumulate.registration._report import thickness_voxels

    slab = np.zeros((20, 30, 30), bool)
    slab[5:9, 5:25, 5:25] = True  # 4 x 20 x 20 voxels: V = 1600, faces 2 * 400 + 4 * 80 = 1120; 2 V / A = 2.857
    assert thickness_voxels(slab, (1.0, 1.0, 1.0)) == pytest.approx(3200 / 1120)
    # 2 mm slices: V = 3200 mm3, faces 800 x 1 + 160 x 2 + 160 x 2 = 1440 mm2; 2 V / A = 4.44 mm = 2.22 voxels of 2 mm
    assert thickness_voxels(slab, (1.0, 1.0, 2.0)) == pytest.approx(2 * 3200 / 1440 / 2)
    grid = Grid((20, 30, 30))
    fixed = Volume(slab, grid, "mask", "1")
    moving = Volume(np.roll(slab, 2, axis=0), grid, "mask", "1")  # half the slab overlaps: Dice 0.5
    report = assess(DisplacementField.identity(grid), structures={"plate": (fixed, moving)})
    check = report.checks[-1]
    assert check.value == pytest.approx(0.5) and check.verdict == "not scored" and report.verdict == "pass"
    strict = assess(DisplacementField.identity(grid), structures={"plate": (fixed, moving)},
                    tolerances=Tolerances(dice_min_thickness_voxels=2.0))  # fmt: skip
    assert strict.checks[-1].verdict == "fail"


def test_a_warped_plane_is_the_moving_ct_pulled_through_the_field():
    # moving = fixed shifted 4 mm along x (2 voxels); the field u = (+4, 0, 0): the warped axial plane is the fixed one
    from accumulate.registration._pictures import warped_plane

    ct, _ = _bright_plate_ct()
    moving = ct.with_array(np.roll(ct.array, 2, axis=2))
    shift = DisplacementField(np.broadcast_to([4.0, 0.0, 0.0], ct.grid.shape + (3,)).copy(), ct.grid)
    axial = warped_plane(moving, shift, "axial", (11, 20, 25))
    np.testing.assert_allclose(axial[:, :-2], ct.array[11][:, :-2])
    coronal = warped_plane(moving, shift, "coronal", (11, 20, 25))
    np.testing.assert_allclose(coronal[:, :-2], ct.array[::-1, 20, :][:, :-2])


def test_registration_settings_in_a_run_configuration(demo, tmp_path):
    from accumulate import ConfigError
    from accumulate.config import load_config
    from accumulate.pipeline._fields import tolerances

    def config(lines: str):
        text = f"""
        [registration]
        preset = "fast"
        {lines}
        """
        path = tmp_path / "run.toml"
        path.write_text(demo.course_tables() + textwrap.dedent(text))
        return load_config(path)

    default = config("").registration
    assert (default.inverse_consistency, default.jacobian_map, dict(default.checks)) == (False, False, {})
    assert tolerances(default) == Tolerances()
    given = config("inverse_consistency = true\n        [registration.checks]\n        jacobian_max = 3.0").registration
    assert given.inverse_consistency and tolerances(given).jacobian_max == 3.0 and tolerances(given).jacobian_min == 0.5
    with pytest.raises(ConfigError, match=r"\[registration.checks\].*jacobian_min"):
        config("[registration.checks]\n        jacobian_min = 1.5")
    with pytest.raises(ConfigError, match="unknown key"):
        config("[registration.checks]\n        dice = 0.7")


@pytest.mark.slow
def test_inverse_consistency_in_a_run_and_its_uncertainty_radius(demo, tmp_path):
    # the preset's rigid stage both ways in one elastix process: the exact inverse of a rigid map is rigid, so the
    # loop error is only the two stochastic fits' convergence error, under a voxel (measured 0.64 mm p95; voxels
    # >= 2 mm), whatever the residual deformation. [uncertainty] method = "inverse-consistency" asks for both ways
    # itself and turns the loop error into the per-voxel radius max(minimum, scale x loop) of the band.
    from accumulate.config import load_config
    from accumulate.pipeline import run
    from accumulate.registration import preset_files, read_field, read_image
    from accumulate.uncertainty import DEFAULT_MINIMUM_MM, DEFAULT_SCALE

    text = f"""
    [registration]
    parameter_files = ["{preset_files("fast")[0]}"]
    [uncertainty]
    method = "inverse-consistency"
    [output]
    dir = "{tmp_path / "out"}"
    """
    path = tmp_path / "run.toml"
    path.write_text(demo.course_tables() + textwrap.dedent(text))
    result = run(load_config(path), progress=lambda line: None)
    course = result.summary["registration"]["prior"]
    checks = {c["name"]: c for c in course["checks"]}
    ice = checks["inverse_consistency"]
    assert ice["value"] < 1.0 and ice["verdict"] == "pass" and ice["threshold"].startswith("95th percentile <= 2 mm")
    assert "inverse consistency" in course["field"]
    folder = tmp_path / "out" / "registration" / "prior"
    assert (folder / "backward" / "elastix.log").exists()

    # the radius map: on the reference CT grid, max(minimum, scale x loop error) inside the body, the minimum outside;
    # max(minimum, scale x) is monotone, so its 95th percentile in the body is that of the loop error (the check's value)
    radius = read_image(folder / "uncertainty_mm.mha")
    assert radius.grid.is_close(read_field(tmp_path / "out" / "field_prior.mha").grid)
    body = result.prepared.bodies["reirradiation"].array >= 0.5
    np.testing.assert_allclose(radius.array[~body], DEFAULT_MINIMUM_MM)
    assert radius.array.min() >= DEFAULT_MINIMUM_MM
    figures = result.summary["uncertainty"]["radius_mm_in_body_by_course"]["prior"]
    assert figures["p95"] == pytest.approx(max(DEFAULT_MINIMUM_MM, DEFAULT_SCALE * ice["value"]), abs=0.02)
    # its checks inside each organ at risk, with the threshold, and its picture
    organs = [c for c in course["checks"] if c["name"].startswith("uncertainty:")]
    assert {c["name"] for c in organs} >= {"uncertainty:SpinalCord", "uncertainty:Mandible"}
    assert all(c["threshold"].startswith("95th percentile <= 3 mm") and c["verdict"] == "pass" for c in organs)
    assert (folder / "pictures" / "uncertainty.png").exists()
    section = result.summary["uncertainty"]
    assert section["method"] == "inverse-consistency"
    assert (section["minimum_mm"], section["scale"]) == (DEFAULT_MINIMUM_MM, DEFAULT_SCALE)
    assert DEFAULT_MINIMUM_MM <= figures["median"] <= figures["p95"] <= figures["max"] and section["scenarios"] == 15

"""MHA/MHD/NRRD fields read and written without ITK, checked against ITK itself and hand-written headers."""

from __future__ import annotations

import gzip
import subprocess
import sys

import numpy as np
import pytest

from accumulate import DisplacementField, Grid, InputError
from accumulate.registration import read_field, write_field

# oblique (axes permuted and flipped), anisotropic, off-centre: any mix-up of axes or rows shows
OBLIQUE = Grid((5, 6, 7), origin_mm=(-12.5, 40.0, 7.25), spacing_mm=(1.5, 2.0, 3.0), direction=(0, 1, 0, 1, 0, 0, 0, 0, -1))
ROTATED = Grid((4, 3, 5), origin_mm=(3.0, -2.0, 1.0), spacing_mm=(1.1, 0.9, 2.5),
               direction=(0.8, -0.6, 0.0, 0.6, 0.8, 0.0, 0.0, 0.0, 1.0))  # fmt: skip


def _field(grid: Grid, dtype) -> DisplacementField:
    return DisplacementField(np.random.default_rng(5).normal(scale=3.0, size=grid.shape + (3,)).astype(dtype), grid)


@pytest.mark.parametrize("grid", [OBLIQUE, ROTATED], ids=["oblique", "rotated"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("suffix", [".mha", ".mhd", ".nrrd", ".nhdr"])
def test_itk_reads_what_we_write_and_we_read_what_itk_writes(tmp_path, grid, dtype, suffix):
    import itk

    field = _field(grid, dtype)
    ours = write_field(field, tmp_path / f"ours{suffix}")
    reader = itk.ImageFileReader[itk.VectorImage[itk.D, 3]].New(FileName=str(ours))  # any component type, as double
    reader.Update()
    by_itk = DisplacementField.from_itk(reader.GetOutput())
    assert by_itk.grid.is_close(grid, atol_mm=1e-9, atol_direction=1e-12)
    np.testing.assert_array_equal(by_itk.array, field.array)

    theirs = tmp_path / f"itk{suffix}"
    itk.imwrite(field.to_itk(), str(theirs), compression=True)
    back = read_field(theirs)
    assert back.grid.is_close(grid, atol_mm=1e-9, atol_direction=1e-12)
    assert back.array.dtype == dtype
    np.testing.assert_array_equal(back.array, field.array)


def test_a_hand_written_ras_nrrd_is_turned_into_lps(tmp_path):
    # 2 x 1 x 1 voxels, x axis along RAS +R (LPS -x), origin R=10 A=20 S=30 -> LPS (-10, -20, 30); vectors as stored
    vectors = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype="<f4")
    header = (
        "NRRD0004\n# written by hand\ntype: float\ndimension: 4\nspace: right-anterior-superior\nsizes: 3 2 1 1\n"
        "space directions: none (2,0,0) (0,3,0) (0,0,4)\nkinds: vector domain domain domain\nendian: little\n"
        "encoding: gzip\nspace origin: (10,20,30)\n\n"
    )
    path = tmp_path / "ras.nrrd"
    path.write_bytes(header.encode() + gzip.compress(vectors.tobytes()))
    field = read_field(path)
    assert field.grid.shape == (1, 1, 2)
    np.testing.assert_allclose(field.grid.origin_mm, (-10.0, -20.0, 30.0))
    np.testing.assert_allclose(field.grid.spacing_mm, (2.0, 3.0, 4.0))
    np.testing.assert_allclose(field.grid.direction_matrix, np.diag([-1.0, -1.0, 1.0]))
    np.testing.assert_array_equal(field.array.reshape(2, 3), vectors)


def _meta(sizes: str, channels: int, data_file: str = "LOCAL") -> bytes:
    header = f"NDims = 3\nDimSize = {sizes}\nElementNumberOfChannels = {channels}\nElementType = MET_FLOAT\n"
    return (header + f"ElementDataFile = {data_file}\n").encode()


def test_bad_vector_files_are_refused_by_name(tmp_path):
    two = tmp_path / "two.mha"
    two.write_bytes(_meta("1 1 1", 2) + bytes(8))
    with pytest.raises(InputError, match=r"two.mha.*not a 3-D displacement field"):
        read_field(two)
    short = tmp_path / "short.mha"
    short.write_bytes(_meta("2 2 2", 3) + bytes(8))
    with pytest.raises(InputError, match=r"short.mha.*bytes of data"):
        read_field(short)
    detached = tmp_path / "lost.mhd"
    detached.write_bytes(_meta("1 1 1", 3, "lost.raw"))
    with pytest.raises(InputError, match=r"lost.raw' does not exist"):
        read_field(detached)


def test_a_given_field_run_never_loads_itk(tmp_path):
    path = write_field(_field(OBLIQUE, np.float32), tmp_path / "dvf.mha")
    code = f"import sys; from accumulate.registration import read_field, write_field; f = read_field({str(path)!r}); "
    code += f"write_field(f, {str(tmp_path / 'copy.nrrd')!r}); print('itk' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"

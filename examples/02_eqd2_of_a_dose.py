"""EQD2 of one course dose, checked by hand, and written as an RTDOSE labelled as such.

Reads the phantom's re-irradiation RTDOSE (35 Gy in 5 fractions, stereotactic), converts it
with ``accumulate.eqd2`` for alpha/beta 3 Gy (late-reacting tissue) and 10 Gy (tumour),
compares the voxel of maximum dose with EQD2 = D (d + a/b) / (2 + a/b) worked out by hand, and
writes the EQD2 (a/b 3 Gy) with ``accumulate.tools.write_eqdx``, as ``accumulate eqd2`` does.

Run: ``python examples/02_eqd2_of_a_dose.py``; the same from the shell:
``accumulate eqd2 case/reirradiation/RD.dcm --fractions 5 --alpha-beta 3 -o eqd2.dcm``.
"""

from pathlib import Path

import accumulate
from accumulate.phantom import write_demo_case
from accumulate.tools import dose_eqdx, write_eqdx

FRACTIONS = 5


def main() -> None:
    case = write_demo_case(Path("case"), size="test")
    dose = accumulate.read_dose(case.reirradiation.dose_path)  # Gy, the whole course
    print(f"dose: {dose!r}")
    d_max = float(dose.array.max())
    for alpha_beta in (3.0, 10.0):
        eqd2 = accumulate.eqd2(dose, FRACTIONS, alpha_beta)
        by_hand = d_max * (d_max / FRACTIONS + alpha_beta) / (2.0 + alpha_beta)
        print(f"a/b {alpha_beta:4.1f} Gy: max dose {d_max:.2f} Gy -> EQD2 {float(eqd2.array.max()):.2f} Gy "
              f"(by hand {by_hand:.2f} Gy)")  # fmt: skip
    result = dose_eqdx(case.reirradiation.dose_path, alpha_beta=3.0, fractions=FRACTIONS)
    print(f"written: {write_eqdx(result, case.reirradiation.dose_path, Path('eqd2.dcm'))} ({result.label})")


if __name__ == "__main__":
    main()

